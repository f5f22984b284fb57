// Replication through NATS JetStream (docs/replication.md), on a 3-node cluster of real nats-server
// processes on this machine (test/replicate/nats-cluster.ts): (1) the lag of a follower in its own
// process, connected to the writer only through NATS, at 1,000 and 10,000 writes/s, open loop: the
// writer's acknowledgement of seq s (ack quorum) to the follower having applied s, median and p99
// (the stream has a change before the writer's own log, so the follower often applies it before
// the acknowledgement: 0), and from the add's issue, beside the add's own acknowledgement;
// (2) acknowledged adds per second with 64 concurrent writers under --replicate-ack quorum and local,
// beside the same writer without replication in the same run (fsync 'always' throughout), and
// beside the ceiling NATS sets on this machine: the writer's publish path alone (runs of 64 records
// published pipelined with the expected last sequence, as a batch is) with no log. Checks
// itself: the follower reaches the last seq and holds every number; the stream holds every change.
// Without nats-server on PATH it reports nothing measured and says why.

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openDnc, type DurableDnc, type ReplicationAck } from '../src/index.js';
import { StreamLink } from '../src/replicate/stream-link.js';
import { NatsCluster, natsAvailable } from '../test/replicate/nats-cluster.js';
import { check, plain, versus } from './figures.js';
import { lagFigures, now, openLoop, startFollowerChild, stopFollowerChild, type LagFigures } from './follower-lag.js';
import { PROJECT_ROOT, TSC } from './paths.js';
import type { Figure, Scenario, ScenarioResult } from './scenario.js';

const RATES = [1000, 10_000];
const SMOKE_RATES = [1000];
const RUN_MS = 3000;
const SMOKE_RUN_MS = 300;
const WRITERS = 64;
const FIRST_NUMBER = 2_004_000_000;

/** The follower child runs dist/ (as users run it): compile it first (tsc is incremental enough here). */
function buildDist(log: (line: string) => void): void {
  try {
    execFileSync(process.execPath, [TSC, '-p', 'tsconfig.json'], { cwd: PROJECT_ROOT, stdio: 'inherit' });
  } catch {
    log('tsc reported errors (above); measuring what it emitted');
  }
}

async function replicatedWriter(dataDir: string, servers: string, stream: string, ack: ReplicationAck): Promise<DurableDnc> {
  const dnc = await openDnc({ dataDir, replicate: { servers, stream, ack } });
  const deadline = Date.now() + 30_000;
  while (dnc.stats().replication?.state !== 'ready') {
    if (Date.now() > deadline) throw new Error(`the writer did not start replicating: ${JSON.stringify(dnc.stats().replication)}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return dnc;
}

interface Lag extends LagFigures {
  readonly achievedRate: number;
  /** Adds the writer answered with an error (REPLICATION_UNAVAILABLE when the stream does not keep up). */
  readonly refused: number;
}

async function followerLag(dir: string, servers: string, rate: number, runMs: number): Promise<Lag> {
  const stream = `LAG${rate}`;
  const writer = await replicatedWriter(path.join(dir, stream), servers, stream, 'quorum');
  const follower = await startFollowerChild(path.join(PROJECT_ROOT, 'bench/replication-follower-child.mjs'), [servers, stream]);
  const run = await openLoop((index) => writer.add(String(FIRST_NUMBER + index)), rate, runMs);
  const lastSeq = writer.lastSeq;
  await stopFollowerChild(follower, lastSeq, 20_000);
  const reader = await openDnc({ follow: { servers, stream } });
  await reader.waitFor(lastSeq, 20_000);
  check(reader.count() === writer.count() && reader.count() >= run.acks.length && reader.digest() === writer.digest(), `a new follower holds the writer's ${writer.count()} numbers (${run.acks.length} acknowledged of ${run.issued}), digest equal to the writer's`);
  await reader.close();
  await writer.close();
  return { achievedRate: run.issued / run.seconds, refused: run.refused, ...lagFigures(run.acks, follower.applied) };
}

/** Acknowledged adds per second of WRITERS closed-loop writers for `runMs`; checks every add is there. */
async function addsPerSecond(writer: DurableDnc, runMs: number, first: number): Promise<number> {
  let next = first;
  const started = now();
  const loop = async (): Promise<void> => {
    while (now() - started < runMs) await writer.add(String(next++));
  };
  await Promise.all(Array.from({ length: WRITERS }, loop));
  const seconds = (now() - started) / 1000;
  check(writer.count() === next - first, `the writer holds all ${next - first} acknowledged adds`);
  return (next - first) / seconds;
}

/** Records per second the publish path alone gets acknowledged, in runs of WRITERS (no log, no engine). */
async function publishCeiling(servers: string, runMs: number): Promise<number> {
  const link = await StreamLink.open({ servers: servers.split(','), stream: 'CEILING', name: 'bench ceiling' }, () => undefined);
  try {
    await link.ensureStream(3);
    let seq = 0;
    const started = now();
    while (now() - started < runMs) {
      const frames = Array.from({ length: WRITERS }, () => emptyFrame(++seq));
      const outcome = await link.publishRun(frames);
      check(outcome.kind === 'published', `the stream took records ${seq - WRITERS + 1}-${seq}`);
    }
    return seq / ((now() - started) / 1000);
  } finally {
    await link.close();
  }
}

/** A record frame's header with `seq` and no body: what publishRun reads (seq, message id). */
function emptyFrame(seq: number): Buffer {
  const frame = Buffer.alloc(16);
  frame.writeUInt32LE(seq, 8);
  return frame;
}

async function durableRates(dir: string, servers: string, runMs: number): Promise<Record<'none' | ReplicationAck, number>> {
  const none = await openDnc({ dataDir: path.join(dir, 'adds-none') });
  const withoutReplication = await addsPerSecond(none, runMs, FIRST_NUMBER);
  await none.close();
  const rates = { none: withoutReplication, quorum: 0, local: 0 };
  for (const ack of ['quorum', 'local'] as const) {
    const writer = await replicatedWriter(path.join(dir, `adds-${ack}`), servers, `ADDS_${ack}`, ack);
    rates[ack] = await addsPerSecond(writer, runMs, FIRST_NUMBER);
    await writer.close();
  }
  return rates;
}

const scenario: Scenario = async (context): Promise<ScenarioResult> => {
  if (!natsAvailable()) {
    return { scenario: 'replication', sizes: { skipped: 'nats-server is not on PATH' }, figures: [plain('not measured: nats-server is not on PATH', 0, 'runs')] };
  }
  buildDist(context.log);
  const dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'idnc-bench-replication-'));
  const cluster = await NatsCluster.start();
  const runMs = context.smoke ? SMOKE_RUN_MS : RUN_MS;
  const figures: Figure[] = [];
  try {
    for (const rate of context.smoke ? SMOKE_RATES : RATES) {
      const lag = await followerLag(dir, cluster.servers, rate, runMs);
      context.log(`${rate} writes/s: ${lag.achievedRate.toFixed(0)} issued/s, ${lag.refused} refused; remote follower lag after the ack median ${lag.lagMedianMs.toFixed(2)} ms, p99 ${lag.lagP99Ms.toFixed(2)} ms; quorum ack median ${lag.ackMedianMs.toFixed(2)} / p99 ${lag.ackP99Ms.toFixed(2)} ms`);
      figures.push(
        plain(`remote follower lag after the writer's ack, median, ${rate} writes/s`, lag.lagMedianMs, 'ms'),
        plain(`remote follower lag after the writer's ack, p99, ${rate} writes/s`, lag.lagP99Ms, 'ms', { target: '< 100 ms', met: lag.lagP99Ms < 100 }),
        versus(`add -> applied by the remote follower, median, ${rate} writes/s`, lag.visibleMedianMs, 'ms', 'add -> quorum ack by the writer, median', lag.ackMedianMs),
        versus(`add -> applied by the remote follower, p99, ${rate} writes/s`, lag.visibleP99Ms, 'ms', 'add -> quorum ack by the writer, p99', lag.ackP99Ms),
        plain(`writes issued per second (target ${rate})`, lag.achievedRate, 'ops/s'),
        plain(`writes refused by the writer (stream behind), ${rate} writes/s`, lag.refused, 'writes', { higherIsBetter: false }),
      );
    }
    const rates = await durableRates(dir, cluster.servers, runMs);
    const ceiling = await publishCeiling(cluster.servers, runMs);
    context.log(`durable adds/s, ${WRITERS} writers: no replication ${rates.none.toFixed(0)}, quorum ${rates.quorum.toFixed(0)}, local ${rates.local.toFixed(0)}; publish path alone ${ceiling.toFixed(0)} records/s`);
    figures.push(
      versus(`durable adds/s, ${WRITERS} writers, --replicate-ack quorum`, rates.quorum, 'ops/s', 'without replication, same run', rates.none),
      versus(`durable adds/s, ${WRITERS} writers, --replicate-ack local`, rates.local, 'ops/s', 'without replication, same run', rates.none),
      plain(`durable adds/s, ${WRITERS} writers, without replication`, rates.none, 'ops/s'),
      versus(`durable adds/s, ${WRITERS} writers, --replicate-ack quorum, against the NATS ceiling`, rates.quorum, 'ops/s', `publish path alone, runs of ${WRITERS}, no log, same run`, ceiling),
    );
    return { scenario: 'replication', sizes: { runMs, rates: (context.smoke ? SMOKE_RATES : RATES).join('/'), writers: WRITERS, natsNodes: 3, cores: os.cpus().length }, figures };
  } finally {
    await cluster.stop();
    await fs.promises.rm(dir, { recursive: true, force: true });
  }
};

export default scenario;
