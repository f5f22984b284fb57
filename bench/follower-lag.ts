// What the two follower-lag scenarios share (follower.bench.ts: a follower of the data directory;
// replication.bench.ts: a follower of the writer's NATS stream, on another "host"): the follower in
// a child process of its own and the lines it prints (`open <seq>`, then `<seq> <epoch ms>` each time
// it has applied records), the writer adding one number per write at a fixed rate, open loop, and
// the figures: the writer's acknowledgement of seq s to the follower having applied s (0 when the
// follower was first), and from the add's issue to both, median and p99.

import { spawn, type ChildProcess } from 'node:child_process';
import readline from 'node:readline';
import { check } from './figures.js';
import { PROJECT_ROOT } from './paths.js';

export const now = (): number => performance.timeOrigin + performance.now();

export function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * p) - 1)]!;
}

export interface FollowerChild {
  readonly child: ChildProcess;
  /** [seq, epoch ms] as the child printed them, in order. */
  readonly applied: [number, number][];
}

/** Starts `script` (a .mjs on the built library) with `args`; resolves once it has opened. */
export async function startFollowerChild(script: string, args: readonly string[]): Promise<FollowerChild> {
  const child = spawn(process.execPath, [script, ...args], { cwd: PROJECT_ROOT, stdio: ['pipe', 'pipe', 'inherit'] });
  const applied: [number, number][] = [];
  await new Promise<void>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`follower exited with ${code}`)));
    readline.createInterface({ input: child.stdout! }).on('line', (line) => {
      if (line.startsWith('open ')) resolve();
      else {
        const [seq, at] = line.split(' ');
        applied.push([Number(seq), Number(at)]);
      }
    });
  });
  return { child, applied };
}

/** Waits (at most `timeoutMs`) until the follower printed `lastSeq`, checks it did, and stops it. */
export async function stopFollowerChild(follower: FollowerChild, lastSeq: number, timeoutMs: number): Promise<void> {
  const reached = (): number => follower.applied.at(-1)?.[0] ?? 0;
  const deadline = now() + timeoutMs;
  while (reached() < lastSeq && now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
  check(reached() >= lastSeq, `follower reached seq ${lastSeq}`);
  follower.child.stdin!.end();
  await new Promise((resolve) => follower.child.once('exit', resolve));
}

export interface Acknowledged {
  readonly seq: number;
  readonly issuedAt: number;
  readonly ackedAt: number;
}

export interface OpenLoopRun {
  readonly acks: Acknowledged[];
  readonly issued: number;
  /** Adds the writer answered with an error. */
  readonly refused: number;
  /** From the first issue until every add was answered. */
  readonly seconds: number;
}

/** Issues add(0), add(1), ... at `rate` a second for `runMs` without waiting for answers, then waits for them all. */
export async function openLoop(add: (index: number) => Promise<{ readonly seq: number }>, rate: number, runMs: number): Promise<OpenLoopRun> {
  const acks: Acknowledged[] = [];
  const pending: Promise<void>[] = [];
  const started = now();
  let issued = 0;
  let refused = 0;
  while (now() - started < runMs) {
    const due = Math.floor(((now() - started) / 1000) * rate);
    for (; issued < due; issued++) {
      const issuedAt = now();
      pending.push(add(issued).then((result) => void acks.push({ seq: result.seq, issuedAt, ackedAt: now() }), () => void refused++));
    }
    await new Promise((resolve) => setImmediate(resolve));
  }
  await Promise.all(pending);
  return { acks, issued, refused, seconds: (now() - started) / 1000 };
}

export interface LagFigures {
  /** Acknowledgement of seq s by the writer -> s applied by the follower (0 when it was first). */
  readonly lagMedianMs: number;
  readonly lagP99Ms: number;
  /** Issue of the add -> applied by the follower, and -> acknowledged by the writer. */
  readonly visibleMedianMs: number;
  readonly visibleP99Ms: number;
  readonly ackMedianMs: number;
  readonly ackP99Ms: number;
}

/** Each acknowledged seq against the first time the follower printed it or a later seq. */
export function lagFigures(acks: readonly Acknowledged[], applied: readonly [number, number][]): LagFigures {
  const lags: number[] = [];
  const visible: number[] = [];
  let cursor = 0;
  for (const ack of [...acks].sort((a, b) => a.seq - b.seq)) {
    while (applied[cursor]![0] < ack.seq) cursor++;
    lags.push(Math.max(0, applied[cursor]![1] - ack.ackedAt));
    visible.push(applied[cursor]![1] - ack.issuedAt);
  }
  const ascending = (values: number[]): number[] => values.sort((a, b) => a - b);
  const [lagSorted, visibleSorted] = [ascending(lags), ascending(visible)];
  const ackSorted = ascending(acks.map((ack) => ack.ackedAt - ack.issuedAt));
  return {
    lagMedianMs: percentile(lagSorted, 0.5),
    lagP99Ms: percentile(lagSorted, 0.99),
    visibleMedianMs: percentile(visibleSorted, 0.5),
    visibleP99Ms: percentile(visibleSorted, 0.99),
    ackMedianMs: percentile(ackSorted, 0.5),
    ackP99Ms: percentile(ackSorted, 0.99),
  };
}
