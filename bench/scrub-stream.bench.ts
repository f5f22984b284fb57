// Streaming scrub over HTTP: POST /v1/scrub of 100k and 1M numbers (1M and 10M with --scale 100M)
// against a registry-shaped list of 10M (100M), the body sent in 1 MiB slices and the answer
// read as it comes (lines counted on the raw buffers), through a real socket to the app in this
// process; the body is built before the clock starts, so the client's own work stays small. Beside
// it, in the same run, the per-number `dnc.status(phone)` loop over the same entries (what a client
// without the bulk endpoint does, minus the network). Checks itself: the stream's blocked lines and summary match
// the expected hits of the probe set.

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { buildApp } from '../src/http/app.js';
import { generateKey } from '../src/keys/key-format.js';
import type { KeyRecord } from '../src/keys/key-records.js';
import { KeyStore } from '../src/keys/key-store.js';
import { openDnc, type Dnc } from '../src/index.js';
import { generateNumbers, probeSet, type NumberData } from './data/registry.js';
import { check, versus } from './figures.js';
import type { Scenario } from './scenario.js';

const SEED = 31;
const HIT_FRACTION = 0.2;
const WRITE_BYTES = 1 << 20;
const SUMMARY_BYTES_MAX = 256;
/** Streams per size; the median is reported (the first warms the route up). */
const STREAM_ROUNDS = 3;

interface Sizes {
  readonly list: number;
  readonly inputs: readonly number[];
}

function sizesFor(smoke: boolean, scale: string): Sizes {
  if (smoke) return { list: 5_000, inputs: [2_000] };
  if (scale === '100M') return { list: 100_000_000, inputs: [1_000_000, 10_000_000] };
  return { list: 10_000_000, inputs: [100_000, 1_000_000] };
}

/** The request body, built before the clock starts so the client's string work is not timed. */
function bodyOf(numbers: Float64Array): Buffer {
  const body = Buffer.allocUnsafe(numbers.length * 11);
  let at = 0;
  for (let i = 0; i < numbers.length; i++) {
    at += body.write(String(numbers[i]), at, 'latin1');
    body[at++] = 10;
  }
  return body.subarray(0, at);
}

/**
 * Streams the body in WRITE_BYTES slices (waiting for drain) and counts the answer's lines as
 * buffers arrive; the summary is the last line. Resolves with blocked lines + summary.
 */
function streamScrub(port: number, key: string, body: Buffer): Promise<{ blocked: number; summary: string }> {
  return new Promise((resolve, reject) => {
    let lines = 0;
    let last = Buffer.alloc(0);
    const request = http.request({ host: '127.0.0.1', port, method: 'POST', path: '/v1/scrub', headers: { loginId: key, 'content-type': 'text/plain' } }, (response) => {
      response.on('data', (chunk: Buffer) => {
        for (let at = chunk.indexOf(10); at !== -1; at = chunk.indexOf(10, at + 1)) lines++;
        last = Buffer.concat([last, chunk]).subarray(-SUMMARY_BYTES_MAX);
      });
      response.on('end', () => {
        const text = last.toString('latin1').trimEnd();
        const summary = text.slice(text.lastIndexOf('\n') + 1);
        resolve({ blocked: lines - 1, summary });
      });
      response.on('error', reject);
    });
    request.on('error', reject);
    let next = 0;
    const writeMore = (): void => {
      while (next < body.length) {
        const slice = body.subarray(next, next + WRITE_BYTES);
        next += slice.length;
        if (!request.write(slice)) {
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
  const body = bodyOf(probes.numbers);
  const runs: number[] = [];
  let streamed = { blocked: 0, summary: '' };
  for (let round = 0; round < STREAM_ROUNDS; round++) {
    const started = performance.now();
    streamed = await streamScrub(port, key, body);
    runs.push(performance.now() - started);
  }
  const streamMs = runs.sort((x, y) => x - y)[Math.floor(STREAM_ROUNDS / 2)]!;
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
  // Loaded through the bulk path (one change); bench/scrub.bench.ts loads through add() batches.
  const dnc = await openDnc();
  check((await dnc.addNumbers(data.numbers.slice())).changed === sizes.list, 'the list holds every number');
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
