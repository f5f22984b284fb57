// Followers: (1) lag of a read-only follower in its own process behind a writer adding one number
// per write at 1,000 and 10,000 writes per second, open loop: the time from the writer's
// acknowledgement of seq s to the follower having applied s (median and p99), beside the writer's own
// latency from issuing an add to its acknowledgement in the same run. The writer runs with fsync
// 'none', so its acknowledgement comes right after the write: under 'always' the follower usually
// applies a record before the flush returns, and the figure would read 0 without saying anything. (2) HTTP
// `status` requests per second of `idnc serve --workers 1` and `--workers 2` (autocannon in a child
// process, 10 connections), in alternating rounds of the same run. The follower and the servers run
// the built code (dist/, rebuilt first when a source file is newer), as users run them.
// Checks itself: the follower must reach the last seq and hold every number; status answers are 200
// with the expected body.

import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openDnc } from '../src/index.js';
import { check, plain, versus } from './figures.js';
import { lagFigures, openLoop, startFollowerChild, stopFollowerChild, type LagFigures } from './follower-lag.js';
import { AUTOCANNON_CLI, PROJECT_ROOT, TSC } from './paths.js';
import type { Figure, Scenario } from './scenario.js';

const RATES = [1000, 10_000];
const SMOKE_RATES = [1000];
const RUN_MS = 3000;
const SMOKE_RUN_MS = 300;
const FIRST_NUMBER = 2_003_000_000;
const CONNECTIONS = 10;
const ROUND_SECONDS = 3;
const SMOKE_ROUND_SECONDS = 0.5;
const ROUNDS = 3;
const WARMUP_SECONDS = 1;
const SMOKE_ROUNDS = 1;
const PHONE = '5039367187';
const ROOT = PROJECT_ROOT;
const CLI = path.join(ROOT, 'dist/cli/main.js');

function newestMtimeMs(dir: string, suffix: string): number {
  let newest = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile() && entry.name.endsWith(suffix)) newest = Math.max(newest, fs.statSync(path.join(entry.parentPath, entry.name)).mtimeMs);
  }
  return newest;
}

/** dist/ must hold the code under test: compile when a source file is newer than every output. */
function ensureBuilt(log: (line: string) => void): void {
  if (fs.existsSync(CLI) && newestMtimeMs(path.join(ROOT, 'src'), '.ts') <= newestMtimeMs(path.join(ROOT, 'dist'), '.js')) return;
  log('dist/ is older than src/: compiling');
  try {
    execFileSync(process.execPath, [TSC, '-p', 'tsconfig.json'], { cwd: ROOT, stdio: 'inherit' });
  } catch {
    // tsc emits despite type errors (someone's unfinished edit): measure what it emitted.
    log('tsc reported errors (above); measuring what it emitted');
  }
}

interface Lag extends LagFigures {
  readonly achievedRate: number;
}

async function followerLag(dir: string, rate: number, runMs: number): Promise<Lag> {
  const dataDir = path.join(dir, `lag-${rate}`);
  const writer = await openDnc({ dataDir, fsync: 'none' });
  const follower = await startFollowerChild(path.join(ROOT, 'bench/follower-child.mjs'), [dataDir]);
  const run = await openLoop((index) => writer.add(String(FIRST_NUMBER + index)), rate, runMs);
  await stopFollowerChild(follower, writer.lastSeq, 10_000);
  const reader = await openDnc({ dataDir, readOnly: true });
  check(run.refused === 0 && reader.count() === run.issued, `follower state holds all ${run.issued} numbers`);
  await reader.close();
  await writer.close();
  return { achievedRate: run.issued / run.seconds, ...lagFigures(run.acks, follower.applied) };
}

interface Server {
  readonly child: ChildProcess;
  readonly url: string;
  /** The first (admin) key, and a read key without a rate limit (the default 1,000/s would cap the load). */
  readonly key: string;
  readonly loadKey: string;
}

/** A read key with no rate limit, made by the CLI beside the running server (which reloads keys). */
async function unlimitedReadKey(dataDir: string, url: string): Promise<string> {
  const key = execFileSync(process.execPath, [CLI, 'keys', 'create', '--org', 'default', '--scopes', 'read', '--rate-limit', '0', '--data-dir', dataDir], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  }).trim();
  const deadline = Date.now() + 10_000;
  for (;;) {
    const answer = await fetch(`${url}/app/main/rpc/pdnc?actionType=count`, { headers: { loginId: key, connection: 'close' } });
    await answer.text();
    if (answer.status === 200) return key;
    if (Date.now() > deadline) throw new Error(`the server did not accept the new key (${answer.status})`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function startServer(dataDir: string, workers: number): Promise<Server> {
  const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--data-dir', dataDir, '--workers', String(workers)], {
    cwd: ROOT,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const deadline = Date.now() + 60_000;
  for (;;) {
    const key = /loginId: ([^']+)'/.exec(stdout)?.[1];
    const url = /curl -H '[^']+' '(http:\/\/[^/]+)/.exec(stdout)?.[1];
    if (key !== undefined && url !== undefined && (workers === 1 || /serving on port/.test(stderr))) {
      return { child, url, key, loadKey: await unlimitedReadKey(dataDir, url) };
    }
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`serve --workers ${workers} did not start:\n${stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function stopServer(server: Server): Promise<void> {
  const exited = new Promise((resolve) => server.child.once('exit', resolve));
  server.child.kill('SIGTERM');
  await exited;
}

async function statusRate(server: Server, seconds: number): Promise<number> {
  const url = `${server.url}/app/main/rpc/pdnc?actionType=status&phoneList=${PHONE}`;
  const args = [AUTOCANNON_CLI, '-j', '-c', String(CONNECTIONS), '-d', String(seconds), '-H', `loginId=${server.loadKey}`, url];
  const output = await new Promise<string>((resolve, reject) => {
    execFile(process.execPath, args, { maxBuffer: 1 << 24 }, (error, stdout) => (error ? reject(error) : resolve(stdout)));
  });
  const result = JSON.parse(output) as { errors: number; timeouts: number; non2xx: number; duration: number; requests: { total: number } };
  check(result.errors === 0 && result.timeouts === 0 && result.non2xx === 0, `status load: ${result.errors} errors, ${result.non2xx} non-2xx`);
  return result.requests.total / (result.duration || seconds);
}

async function statusRates(dir: string, smoke: boolean, log: (line: string) => void): Promise<{ one: number; two: number }> {
  const servers = new Map<number, Server>();
  try {
    const started = await Promise.allSettled([1, 2].map((workers) => startServer(path.join(dir, `serve-${workers}`), workers)));
    started.forEach((outcome, i) => outcome.status === 'fulfilled' && servers.set(i + 1, outcome.value));
    for (const outcome of started) if (outcome.status === 'rejected') throw outcome.reason;
    for (const server of servers.values()) {
      const add = await fetch(`${server.url}/app/main/rpc/pdnc?actionType=add&phoneList=${PHONE}`, { headers: { loginId: server.key } });
      check(add.status === 200, `add answered ${add.status}`);
    }
    for (const server of servers.values()) {
      for (let i = 0; i < 4; i++) {
        const answer = await fetch(`${server.url}/app/main/rpc/pdnc?actionType=status&phoneList=${PHONE}`, { headers: { loginId: server.key, connection: 'close' } });
        check((await answer.text()) === `[{"phone":"${PHONE}","onList":true,"list":"master"}]`, 'status body is wrong');
      }
    }
    // A short unmeasured round each: the first requests pay for JIT compilation.
    if (!smoke) for (const server of servers.values()) await statusRate(server, WARMUP_SECONDS);
    const best = new Map<number, number>([[1, 0], [2, 0]]);
    const rounds = smoke ? SMOKE_ROUNDS : ROUNDS;
    for (let round = 0; round < rounds; round++) {
      for (const workers of [1, 2]) {
        const rate = await statusRate(servers.get(workers)!, smoke ? SMOKE_ROUND_SECONDS : ROUND_SECONDS);
        best.set(workers, Math.max(best.get(workers)!, rate));
        log(`round ${round + 1}: --workers ${workers}: ${rate.toFixed(0)} status req/s`);
      }
    }
    return { one: best.get(1)!, two: best.get(2)! };
  } finally {
    for (const server of servers.values()) await stopServer(server).catch(() => undefined);
  }
}

const scenario: Scenario = async (context) => {
  const dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'idnc-bench-follower-'));
  const figures: Figure[] = [];
  const runMs = context.smoke ? SMOKE_RUN_MS : RUN_MS;
  ensureBuilt(context.log);
  try {
    for (const rate of context.smoke ? SMOKE_RATES : RATES) {
      const lag = await followerLag(dir, rate, runMs);
      context.log(
        `${rate} writes/s target: ${lag.achievedRate.toFixed(0)} issued/s; after the ack: lag median ${lag.lagMedianMs.toFixed(2)} ms, p99 ${lag.lagP99Ms.toFixed(2)} ms; ` +
          `from issue: follower median ${lag.visibleMedianMs.toFixed(2)} / p99 ${lag.visibleP99Ms.toFixed(2)} ms, writer ack median ${lag.ackMedianMs.toFixed(2)} / p99 ${lag.ackP99Ms.toFixed(2)} ms`,
      );
      figures.push(
        plain(`follower lag after the writer's ack, median, ${rate} writes/s`, lag.lagMedianMs, 'ms'),
        plain(`follower lag after the writer's ack, p99, ${rate} writes/s`, lag.lagP99Ms, 'ms', { target: '< 100 ms', met: lag.lagP99Ms < 100 }),
        versus(`add -> applied by the follower (other process), median, ${rate} writes/s`, lag.visibleMedianMs, 'ms', 'add -> durable ack by the writer, median', lag.ackMedianMs),
        versus(`add -> applied by the follower, p99, ${rate} writes/s`, lag.visibleP99Ms, 'ms', 'add -> durable ack by the writer, p99', lag.ackP99Ms),
        plain(`writes issued per second (target ${rate})`, lag.achievedRate, 'ops/s'),
      );
    }
    const { one, two } = await statusRates(dir, context.smoke, context.log);
    figures.push(
      versus('GET pdnc status, serve --workers 2 (best round)', two, 'req/s', 'serve --workers 1 in the same run', one),
      plain('GET pdnc status, serve --workers 1 (best round)', one, 'req/s'),
    );
    return {
      scenario: 'follower',
      sizes: { runMs, rates: (context.smoke ? SMOKE_RATES : RATES).join('/'), connections: CONNECTIONS, cores: os.cpus().length },
      figures,
    };
  } finally {
    await fs.promises.rm(dir, { recursive: true, force: true });
  }
};

export default scenario;
