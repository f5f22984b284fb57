// Streaming scrub over HTTP: POST /v1/scrub of 100k and 1M numbers (1M and 10M with --scale 100M)
// against a registry-shaped list of 10M (100M), the body generated while it is sent and the answer
// read as it comes, through a real socket to the app in this process. Beside it, in the same run,
// the per-number `dnc.status(phone)` loop over the same entries (what a client without the bulk
// endpoint does, minus the network). Checks itself: the stream's blocked lines and summary match
// the expected hits of the probe set.

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { buildApp } from '../src/http/app.js';
import { generateKey } from '../src/keys/key-format.js';
import type { KeyRecord } from '../src/keys/key-records.js';
import { KeyStore } from '../src/keys/key-store.js';
import type { Dnc } from '../src/index.js';
import { generateNumbers, probeSet, type NumberData } from './data/registry.js';
import { check, versus } from './figures.js';
import { loadDnc } from './layouts.js';
import type { Scenario } from './scenario.js';

const SEED = 31;
const HIT_FRACTION = 0.2;
const WRITE_NUMBERS = 16_384;

interface Sizes {
  readonly list: number;
  readonly inputs: readonly number[];
}

function sizesFor(smoke: boolean, scale: string): Sizes {
  if (smoke) return { list: 5_000, inputs: [2_000] };
  if (scale === '100M') return { list: 100_000_000, inputs: [1_000_000, 10_000_000] };
  return { list: 10_000_000, inputs: [100_000, 1_000_000] };
}

/** Streams `numbers` as the body and counts the answer's lines; resolves with blocked + summary. */
function streamScrub(port: number, key: string, numbers: Float64Array): Promise<{ blocked: number; summary: string }> {
  return new Promise((resolve, reject) => {
    let blocked = 0;
    let tail = '';
    const request = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/v1/scrub', headers: { loginId: key, 'content-type': 'text/plain' } }, (response) => {
      response.setEncoding('latin1');
      response.on('data', (chunk: string) => {
        const text = tail + chunk;
        const lastNewline = text.lastIndexOf('\n');
        for (let at = text.indexOf('\n'), start = 0; at !== -1 && at <= lastNewline; start = at + 1, at = text.indexOf('\n', start)) {
          if (text.charCodeAt(start) !== 35) blocked++;
          else tail = text.slice(start, at);
        }
        if (lastNewline !== text.length - 1) tail = text.slice(lastNewline + 1);
      });
      response.on('end', () => resolve({ blocked, summary: tail }));
      response.on('error', reject);
    });
    request.on('error', reject);
    let next = 0;
    const writeMore = (): void => {
      while (next < numbers.length) {
        const end = Math.min(numbers.length, next + WRITE_NUMBERS);
        let text = '';
        for (let i = next; i < end; i++) text += `${numbers[i]}\n`;
        next = end;
        if (!request.write(text)) {
          request.once('drain', writeMore);
          return;
        }
      }
      request.end();
    };
    writeMore();
  });
}

function statusLoop(dnc: Dnc, phones: readonly string[]): number {
  let blocked = 0;
  for (const phone of phones) if (dnc.status(phone)[0]!.onList) blocked++;
  return blocked;
}

async function measure(dnc: Dnc, data: NumberData, port: number, key: string, size: number) {
  const probes = probeSet(data, size, HIT_FRACTION, SEED + size);
  const phones = Array.from(probes.numbers, String);
  const started = performance.now();
  const streamed = await streamScrub(port, key, probes.numbers);
  const streamMs = performance.now() - started;
  check(streamed.blocked === probes.expectedHits, `stream answered ${streamed.blocked} blocked, expected ${probes.expectedHits}`);
  check(streamed.summary === `# checked ${size}, blocked ${probes.expectedHits}, invalid 0, complete yes`, `stream summary: ${streamed.summary}`);
  const loopStarted = performance.now();
  check(statusLoop(dnc, phones) === probes.expectedHits, 'status loop hit count');
  const loopMs = performance.now() - loopStarted;
  const perSecond = (ms: number): number => (size / ms) * 1000;
  return versus(`POST /v1/scrub ${size} vs ${data.numbers.length} (HTTP, streamed)`, perSecond(streamMs), 'numbers/s', 'per-number dnc.status(phone) loop, in process', perSecond(loopMs));
}

const scenario: Scenario = async (context) => {
  const sizes = sizesFor(context.smoke, context.scale);
  const data = generateNumbers('registry', sizes.list, SEED);
  const dnc = await loadDnc(data.numbers);
  const generated = generateKey();
  const record: KeyRecord = { id: generated.id, name: null, org: 'default', scopes: ['read'], createdAt: new Date().toISOString(), revokedAt: null, hash: generated.hash };
  const app = buildApp({ dnc, keys: new KeyStore([record]), scrubNumbersMax: Math.max(...sizes.inputs) });
  try {
    await app.listen({ host: '127.0.0.1', port: 0 });
    const { port } = app.server.address() as AddressInfo;
    context.log(`scrub-stream: against ${sizes.list} registry numbers`);
    const figures = [];
    for (const size of sizes.inputs) figures.push(await measure(dnc, data, port, generated.key, size));
    return { scenario: 'scrub-stream', sizes: { listNumbers: sizes.list, inputs: sizes.inputs.join(' / '), hitFraction: HIT_FRACTION }, figures };
  } finally {
    await app.close();
    await dnc.close();
  }
};

export default scenario;
