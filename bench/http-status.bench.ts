// HTTP status: `GET /app/main/rpc/pdnc?actionType=status&phoneList=<one number>` on the real app
// (key check, parameter parsing, engine lookup, JSON answer, request logging to /dev/null as the
// server logs every request) beside a bare Fastify route returning a constant, both on loopback,
// loaded by autocannon (in a worker thread, so the load generator does not share the servers'
// event loop) in alternating rounds of the same run. Target (issue 3): status >= 85 % of bare.

import type { AddressInfo } from 'node:net';
import os from 'node:os';
import autocannon from 'autocannon';
import Fastify, { type FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { openDnc } from '../src/engine.js';
import { buildApp } from '../src/http/app.js';
import { generateKey } from '../src/keys/key-format.js';
import { KeyStore } from '../src/keys/key-store.js';
import { check, plain, versus } from './figures.js';
import type { BenchContext, Scenario } from './scenario.js';

const CONNECTIONS = 10;
const ROUND_SECONDS = 3;
const SMOKE_ROUND_SECONDS = 0.5;
const ROUNDS = 3;
const SMOKE_ROUNDS = 1;
const LISTED_NUMBERS = 10_000;
const TARGET_RATIO = 0.85;
const PHONE = '5039367187';

async function listen(app: FastifyInstance): Promise<string> {
  await app.listen({ host: '127.0.0.1', port: 0 });
  return `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
}

async function load(url: string, headers: Record<string, string>, seconds: number, smoke: boolean): Promise<number> {
  // Smoke runs only prove the scenario works: they skip the worker thread's start-up time.
  const workers = smoke ? {} : { workers: 1 };
  const result = await autocannon({ url, headers, connections: CONNECTIONS, duration: seconds, ...workers });
  check(result.errors === 0 && result.timeouts === 0, `${url}: ${result.errors} errors, ${result.timeouts} timeouts`);
  check(result.non2xx === 0, `${url}: ${result.non2xx} non-2xx responses`);
  check(result.requests.total > 0, `${url}: no requests completed`);
  return result.requests.total / (result.duration || seconds);
}

const scenario: Scenario = async (context: BenchContext) => {
  const dnc = await openDnc();
  const listed = Array.from({ length: LISTED_NUMBERS }, (_, i) => `${200 + (i % 700)}555${String(i).padStart(4, '0')}`);
  await dnc.add([...listed, PHONE]);
  const key = generateKey();
  const keys = new KeyStore([
    { id: key.id, name: null, org: 'default', scopes: ['read'], createdAt: new Date().toISOString(), revokedAt: null, hash: key.hash },
  ]);
  const logger = pino({ level: 'info' }, pino.destination({ dest: os.devNull, sync: true }));
  const app = buildApp({ dnc, keys, logger });
  const bare = Fastify();
  bare.get('/bare', async () => 'ok');
  try {
    const statusUrl = `${await listen(app)}/app/main/rpc/pdnc?actionType=status&phoneList=${PHONE}`;
    const bareUrl = `${await listen(bare)}/bare`;
    const headers = { loginId: key.key };
    const answer = await fetch(statusUrl, { headers });
    check(answer.status === 200, `status answered ${answer.status}`);
    check((await answer.text()) === `[{"phone":"${PHONE}","onList":true,"list":"master"}]`, 'status body is wrong');
    check((await (await fetch(bareUrl)).text()) === 'ok', 'bare route body is wrong');

    const seconds = context.smoke ? SMOKE_ROUND_SECONDS : ROUND_SECONDS;
    const rounds = context.smoke ? SMOKE_ROUNDS : ROUNDS;
    const bareRates: number[] = [];
    const statusRates: number[] = [];
    for (let round = 0; round < rounds; round++) {
      bareRates.push(await load(bareUrl, {}, seconds, context.smoke));
      statusRates.push(await load(statusUrl, headers, seconds, context.smoke));
      context.log(`round ${round + 1}: bare ${bareRates.at(-1)!.toFixed(0)} req/s, status ${statusRates.at(-1)!.toFixed(0)} req/s`);
    }
    const bareRate = Math.max(...bareRates);
    const statusRate = Math.max(...statusRates);
    const ratio = statusRate / bareRate;
    return {
      scenario: 'http-status',
      sizes: { listedNumbers: LISTED_NUMBERS + 1, connections: CONNECTIONS, roundSeconds: seconds, rounds },
      figures: [
        versus('GET pdnc status, 1 number (best round)', statusRate, 'req/s', 'bare Fastify route returning a constant', bareRate, {
          target: `>= ${TARGET_RATIO} of bare route`,
          met: ratio >= TARGET_RATIO,
        }),
        plain('bare Fastify route (best round)', bareRate, 'req/s'),
      ],
    };
  } finally {
    await app.close();
    await bare.close();
    await dnc.close();
  }
};

export default scenario;
