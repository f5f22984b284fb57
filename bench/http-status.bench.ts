// HTTP status: `GET /app/main/rpc/pdnc?actionType=status&phoneList=<one number>` on the real app
// in the default server configuration (key check, rate-limit bucket, metrics, request id, parameter
// parsing, engine lookup, JSON answer; a pino logger at info writing to /dev/null, which with the
// access log off by default writes no line for a successful request; such a request is answered by
// the status fast path, src/http/status-fast-path.ts) beside a bare Fastify route returning a
// constant (no logger, no hooks), both on loopback, loaded by autocannon (in a child process, so
// the load generator shares neither the servers' event loop nor their CPU accounting) in rounds of
// the same run whose order flips every round, after an uncounted warm-up round per server; each
// round's ratio of the two is taken, and the median over the rounds is judged. Target:
// status >= 85 % of bare in req/s; the same is judged for the server's CPU time per request, which
// other load on the machine distorts less. The best rounds are reported beside them.
//
// The bare route gets the very request the status route gets: the same path and query (it ignores
// them) and the same `loginId` header. The request's bytes are the workload's, not the server's:
// measured here, the bare route alone answers 1.17x faster when sent a short `/bare` with no header
// (medians of 10 interleaved rounds), so a baseline fed a shorter request would charge idnc for
// bytes every server has to read. That short-request figure is still reported, beside the target.
//
// Extra lines measure the same app with the access log on (`idnc serve --access-log`: one pino
// line per request, to /dev/null) and without the fast path (`--no-status-fast-path`: the request
// through Fastify's router and hooks). Each server runs in a process of its own
// (http-server-child.ts), as `idnc serve` does: in one shared process the apps' common code was
// compiled for all of them and Fastify's boot left process.nextTick's feedback megamorphic, which
// moved the figures by more than the differences measured.

import { execFile, fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { generateKey } from '../src/keys/key-format.js';
import { check, plain, versus } from './figures.js';
import { median } from './harness.js';
import { AUTOCANNON_CLI, benchModule } from './paths.js';
import type { BenchContext, Scenario } from './scenario.js';

const CONNECTIONS = 10;
const ROUND_SECONDS = 2;
const SMOKE_ROUND_SECONDS = 0.5;
/** Rounds per server, in alternating order; the best one counts (this VM's speed swings by 1.5x within a minute). */
const ROUNDS = 8;
/**
 * An uncounted round per server first: the app has far more code than the bare route, and V8 is
 * still compiling it (on helper threads whose CPU the process's figure includes) for several
 * seconds of load, so a first counted round would measure start-up, not the serving path.
 */
const WARMUP_SECONDS = 3;
const SMOKE_ROUNDS = 1;
/**
 * The fixed-rate rounds (reported, not judged): every server answers this many requests a second,
 * well under what each sustains here (10,000-22,000 req/s), so the load generator is not the limit.
 * At full load the generator shares the 2 cores and used about as much CPU per request as the
 * servers (52-69 us); on slow days every server's req/s came out near the bare route's, the app
 * without its fast path included (0.92-1.02 of bare, against 0.76-0.86 in other runs the same
 * day). At this rate each request mostly pays its own wakeup, so all servers cost more per request
 * and differ less (first run: bare 75.2, status 87.6, through Fastify 90.5 us).
 */
const FIXED_RATE_PER_SECOND = 5000;
const FIXED_RATE_ROUNDS = 4;
const LISTED_NUMBERS = 10_000;
const TARGET_RATIO = 0.85;
const PHONE = '5039367187';
/** The bare route's second path, loaded without the key header: the shorter request of earlier runs. */
const BARE_SHORT_PATH = '/bare';

const SERVER_CHILD = benchModule('http-server-child');

/** What http-server-child.ts serves (it imports this type). */
export interface ServerSpec {
  readonly variant: 'bare' | 'status' | 'through-fastify' | 'access-log';
  readonly keyId: string;
  readonly keyHash: string;
  readonly phone: string;
  readonly listedNumbers: number;
  /** The bare server's second route (the short request). */
  readonly bareShortPath: string;
}

interface ServerProcess {
  readonly child: ChildProcess;
  readonly base: string;
}

async function startServer(spec: ServerSpec): Promise<ServerProcess> {
  const child = fork(SERVER_CHILD.file, [JSON.stringify(spec)], { execArgv: SERVER_CHILD.execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const exited = once(child, 'exit').then(([code]) => {
    throw new Error(`the ${spec.variant} server process exited (code ${String(code)}) before listening`);
  });
  const [message] = (await Promise.race([once(child, 'message'), exited])) as [{ port: number }];
  exited.catch(() => undefined);
  return { child, base: `http://127.0.0.1:${message.port}` };
}

/** The server process's CPU time so far, in microseconds. */
async function cpuMicros(server: ServerProcess): Promise<number> {
  const reply = once(server.child, 'message') as Promise<[{ cpu: NodeJS.CpuUsage }]>;
  server.child.send('cpu');
  const [{ cpu }] = await reply;
  return cpu.user + cpu.system;
}

async function stopServer(server: ServerProcess): Promise<void> {
  if (server.child.exitCode !== null) return;
  const exited = once(server.child, 'exit');
  server.child.send('close');
  const timer = setTimeout(() => server.child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

interface Round {
  /** Requests per second over the round. */
  readonly rate: number;
  /** CPU time this (server) process spent per request, in ns: insensitive to other load on the machine. */
  readonly cpuNsPerRequest: number;
}

/** One round of autocannon against one server process; with `ratePerSecond`, at that fixed overall rate. */
async function load(server: ServerProcess, url: string, headers: Record<string, string>, seconds: number, ratePerSecond?: number): Promise<Round> {
  const args = [AUTOCANNON_CLI, '-j', '-c', String(CONNECTIONS), '-d', String(seconds)];
  if (ratePerSecond !== undefined) args.push('-R', String(ratePerSecond));
  for (const [name, value] of Object.entries(headers)) args.push('-H', `${name}=${value}`);
  const cpuBefore = await cpuMicros(server);
  const output = await new Promise<string>((resolve, reject) => {
    execFile(process.execPath, [...args, url], { maxBuffer: 1 << 24 }, (error, stdout) => (error ? reject(error) : resolve(stdout)));
  });
  const cpu = (await cpuMicros(server)) - cpuBefore;
  const result = JSON.parse(output) as { errors: number; timeouts: number; non2xx: number; duration: number; requests: { total: number } };
  check(result.errors === 0 && result.timeouts === 0, `${result.errors} errors, ${result.timeouts} timeouts`);
  check(result.non2xx === 0, `${result.non2xx} non-2xx responses`);
  check(result.requests.total > 0, 'no requests completed');
  return {
    rate: result.requests.total / (result.duration || seconds),
    cpuNsPerRequest: (cpu * 1000) / result.requests.total,
  };
}

const scenario: Scenario = async (context: BenchContext) => {
  const key = generateKey();
  const spec = { keyId: key.id, keyHash: key.hash, phone: PHONE, listedNumbers: LISTED_NUMBERS, bareShortPath: BARE_SHORT_PATH };
  const servers: ServerProcess[] = [];
  const start = async (variant: ServerSpec['variant']): Promise<ServerProcess> => {
    const server = await startServer({ ...spec, variant });
    servers.push(server);
    return server;
  };
  try {
    const app = await start('status');
    const bare = await start('bare');
    const logged = await start('access-log');
    const throughFastify = await start('through-fastify');
    const statusPath = `/app/main/rpc/pdnc?actionType=status&phoneList=${PHONE}`;
    const statusUrl = `${app.base}${statusPath}`;
    // The same request as the status route's (see the top of this file), and the short one.
    const bareUrl = `${bare.base}${statusPath}`;
    const bareShortUrl = `${bare.base}${BARE_SHORT_PATH}`;
    const loggedUrl = `${logged.base}${statusPath}`;
    const fastifyUrl = `${throughFastify.base}${statusPath}`;
    const headers = { loginId: key.key };
    const answer = await fetch(statusUrl, { headers });
    check(answer.status === 200, `status answered ${answer.status}`);
    check((await answer.text()) === `[{"phone":"${PHONE}","onList":true,"list":"master"}]`, 'status body is wrong');
    check((await (await fetch(bareUrl, { headers })).text()) === 'ok', 'bare route body is wrong');
    check((await (await fetch(bareShortUrl)).text()) === 'ok', 'bare route (short request) body is wrong');
    check((await (await fetch(loggedUrl, { headers })).text()) === `[{"phone":"${PHONE}","onList":true,"list":"master"}]`, 'status body (access log on) is wrong');
    check((await (await fetch(fastifyUrl, { headers })).text()) === `[{"phone":"${PHONE}","onList":true,"list":"master"}]`, 'status body (through Fastify) is wrong');

    const seconds = context.smoke ? SMOKE_ROUND_SECONDS : ROUND_SECONDS;
    const rounds = context.smoke ? SMOKE_ROUNDS : ROUNDS;
    const bareRounds: Round[] = [];
    const bareShortRounds: Round[] = [];
    const statusRounds: Round[] = [];
    const loggedRounds: Round[] = [];
    const fastifyRounds: Round[] = [];
    const shown = (r: Round): string => `${r.rate.toFixed(0)} req/s (${(r.cpuNsPerRequest / 1000).toFixed(1)} µs CPU/req)`;
    if (!context.smoke) {
      for (const [server, url] of [[bare, bareUrl], [app, statusUrl], [logged, loggedUrl], [throughFastify, fastifyUrl]] as const) {
        await load(server, url, headers, WARMUP_SECONDS);
      }
      await load(bare, bareShortUrl, {}, WARMUP_SECONDS);
    }
    const bareTurn = async (): Promise<void> => void bareRounds.push(await load(bare, bareUrl, headers, seconds));
    const bareShortTurn = async (): Promise<void> => void bareShortRounds.push(await load(bare, bareShortUrl, {}, seconds));
    const statusTurn = async (): Promise<void> => void statusRounds.push(await load(app, statusUrl, headers, seconds));
    const loggedTurn = async (): Promise<void> => void loggedRounds.push(await load(logged, loggedUrl, headers, seconds));
    const fastifyTurn = async (): Promise<void> => void fastifyRounds.push(await load(throughFastify, fastifyUrl, headers, seconds));
    for (let round = 0; round < rounds; round++) {
      // The order flips every round, so a slow spell of the machine (or a clock that drops after a
      // few seconds of load) does not always fall on the same server.
      const order = round % 2 === 0 ? [bareTurn, statusTurn, bareShortTurn, fastifyTurn, loggedTurn] : [loggedTurn, fastifyTurn, bareShortTurn, statusTurn, bareTurn];
      for (const turn of order) await turn();
      context.log(
        `round ${round + 1}: bare ${shown(bareRounds.at(-1)!)}, status ${shown(statusRounds.at(-1)!)}, ` +
          `bare with a short request ${shown(bareShortRounds.at(-1)!)}, ` +
          `status through Fastify ${shown(fastifyRounds.at(-1)!)}, status with access log ${shown(loggedRounds.at(-1)!)}`,
      );
    }
    const fixedBare: Round[] = [];
    const fixedStatus: Round[] = [];
    const fixedFastify: Round[] = [];
    const fixedRounds = context.smoke ? SMOKE_ROUNDS : FIXED_RATE_ROUNDS;
    for (let round = 0; round < fixedRounds; round++) {
      const turns: [Round[], ServerProcess, string][] = [[fixedBare, bare, bareUrl], [fixedStatus, app, statusUrl], [fixedFastify, throughFastify, fastifyUrl]];
      if (round % 2 === 1) turns.reverse();
      for (const [rounds, server, url] of turns) rounds.push(await load(server, url, headers, seconds, FIXED_RATE_PER_SECOND));
      context.log(
        `fixed-rate round ${round + 1} (${FIXED_RATE_PER_SECOND} req/s asked): bare ${shown(fixedBare.at(-1)!)}, ` +
          `status ${shown(fixedStatus.at(-1)!)}, status through Fastify ${shown(fixedFastify.at(-1)!)}`,
      );
    }
    const medianCpu = (rounds: readonly Round[]): number => median(rounds.map((r) => r.cpuNsPerRequest).sort((a, b) => a - b));
    const best = (rounds: readonly Round[]): number => Math.max(...rounds.map((r) => r.rate));
    const leastCpu = (rounds: readonly Round[]): number => Math.min(...rounds.map((r) => r.cpuNsPerRequest));
    // Within a round the servers are loaded one after the other, so a round's ratio compares them
    // in the same spell of the machine; the median of those ratios is what the targets judge. The
    // best rounds are shown too, but one lucky round of either server decides them (the bare
    // route alone swung between 11,000 and 17,000 req/s from one 2 s round to the next in one run).
    const perRound = (rounds: readonly Round[], ratio: (round: Round, bare: Round) => number, baseline: readonly Round[] = bareRounds): number =>
      median(rounds.map((round, i) => ratio(round, baseline[i]!)).sort((a, b) => a - b));
    const rateRatio = (round: Round, bare: Round): number => round.rate / bare.rate;
    const cpuRatio = (round: Round, bare: Round): number => bare.cpuNsPerRequest / round.cpuNsPerRequest;
    const fixedCpuRatio = (rounds: readonly Round[]): number => perRound(rounds, cpuRatio, fixedBare);
    const pairedRatio = perRound(statusRounds, rateRatio);
    const pairedCpuRatio = perRound(statusRounds, cpuRatio);
    const bareName = 'bare Fastify route returning a constant, same request';
    return {
      scenario: 'http-status',
      sizes: { listedNumbers: LISTED_NUMBERS + 1, connections: CONNECTIONS, roundSeconds: seconds, rounds, warmupSeconds: context.smoke ? 0 : WARMUP_SECONDS },
      figures: [
        plain('status / bare req/s within each round (median over the rounds)', pairedRatio, 'x', {
          target: `>= ${TARGET_RATIO}`,
          met: pairedRatio >= TARGET_RATIO,
        }),
        plain('bare / status server CPU per request within each round (median over the rounds)', pairedCpuRatio, 'x', {
          target: `>= ${TARGET_RATIO} (the req/s target when the server is CPU-bound)`,
          met: pairedCpuRatio >= TARGET_RATIO,
        }),
        plain(`bare / status server CPU per request at a fixed ${FIXED_RATE_PER_SECOND} req/s, within each round (median)`, fixedCpuRatio(fixedStatus), 'x'),
        plain(`bare / through-Fastify server CPU per request at a fixed ${FIXED_RATE_PER_SECOND} req/s, within each round (median)`, fixedCpuRatio(fixedFastify), 'x'),
        versus(`server CPU per status request at ${FIXED_RATE_PER_SECOND} req/s (median)`, medianCpu(fixedStatus), 'ns/op', 'server CPU per bare-route request at the same rate', medianCpu(fixedBare)),
        versus(`server CPU per request through Fastify, --no-status-fast-path, at ${FIXED_RATE_PER_SECOND} req/s (median)`, medianCpu(fixedFastify), 'ns/op', 'server CPU per bare-route request at the same rate', medianCpu(fixedBare)),
        plain(`fixed-rate rounds: answered / asked, slowest server and round`, Math.min(...[...fixedBare, ...fixedStatus, ...fixedFastify].map((r) => r.rate)) / FIXED_RATE_PER_SECOND, 'x'),
        versus('GET pdnc status, 1 number (best round)', best(statusRounds), 'req/s', bareName, best(bareRounds)),
        versus('server CPU per status request (best round)', leastCpu(statusRounds), 'ns/op', 'server CPU per bare-route request', leastCpu(bareRounds)),
        versus('GET pdnc status, 1 number, against the short request (best round)', best(statusRounds), 'req/s', 'bare route sent a short request: GET /bare, no key header', best(bareShortRounds)),
        plain('bare route: short request / status-shaped request, within each round (median)', perRound(bareShortRounds, rateRatio), 'x'),
        plain('status / bare route sent the short request, within each round (median)', perRound(statusRounds, rateRatio, bareShortRounds), 'x'),
        versus('GET pdnc status through Fastify, --no-status-fast-path (best round)', best(fastifyRounds), 'req/s', bareName, best(bareRounds)),
        plain('status through Fastify / bare req/s within each round (median over the rounds)', perRound(fastifyRounds, rateRatio), 'x'),
        versus('server CPU per status request through Fastify (best round)', leastCpu(fastifyRounds), 'ns/op', 'server CPU per bare-route request', leastCpu(bareRounds)),
        versus('GET pdnc status with --access-log (best round)', best(loggedRounds), 'req/s', bareName, best(bareRounds)),
        versus('server CPU per status request with --access-log (best round)', leastCpu(loggedRounds), 'ns/op', 'server CPU per bare-route request', leastCpu(bareRounds)),
      ],
    };
  } finally {
    await Promise.all(servers.map(stopServer));
  }
};

export default scenario;
