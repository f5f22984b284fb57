// One seed of the deterministic fault simulator (in the spirit of TigerBeetle's VOPR): the real
// engine (DurableDnc, fsync 'always', tiny segments and snapshot thresholds so rotations and
// snapshots happen every few steps) and up to two read-only followers (DncFollower) run on a
// SimulatedDisk through a seeded sequence of steps: concurrent batches of adds and removes over a
// small pool of numbers (so changes overlap), snapshots, clean restarts, kill -9, power loss,
// EIO/ENOSPC on any call, bit flips in synced data, a second writer, and `idnc repair` when a start
// refuses. After every step and every start it checks the invariants of the durability design:
//   - a start recovers every acknowledged change, or (bit flips, or a fault the writer had to stop
//     on) refuses with DATA_CORRUPT naming a damaged file; `idnc repair` then makes the directory
//     start again, keeping every acknowledged change the damage left recoverable;
//   - the writer, every follower and every start hold exactly the model's state at their seq
//     (history.ts), so a refused change is never visible anywhere and nothing drifts;
//   - a follower that has caught up is at the writer's seq;
//   - a second writer is refused with DATA_DIR_LOCKED.
// The engine's own timers never fire (their periods are set beyond any run), node:fs answers
// synchronously (synchronous-fs.ts), and every choice comes from the seed, so a seed replays
// exactly; a failure names the seed, the step and the steps before it.

import fs from 'node:fs';
import path from 'node:path';
import { LOG_RECORD_HEADER_BYTES, LOG_SEGMENT_HEADER_BYTES } from '../../../src/constants.js';
import type { EngineLogger } from '../../../src/logger.js';
import type { DurableDncOptions } from '../../../src/engine/durable-log.js';
import type { Dnc } from '../../../src/engine/views.js';
import { DncFollower, DurableDnc } from '../../../src/open.js';
import { IdncError } from '../../../src/errors.js';
import { applyRepair, planRepair } from '../../../src/persist/repair.js';
import { scanSegment } from '../../../src/persist/segment-scan.js';
import { verifyDataDir } from '../../../src/persist/verify.js';
import { makeMemoryTempDir, removeDir } from '../../persist/helpers.js';
import { Dice } from '../random.js';
import { History, popcount, type Change, type ListKey } from './history.js';
import { FAULT_KINDS, SimulatedDisk, type BitFlip, type CrashKind, type DiskOptions, type FaultKind, type SimulatedProcess } from './simulated-disk.js';
import { installSynchronousFsPromises } from './synchronous-fs.js';

/** Steps of one seed unless told otherwise. */
export const SEED_STEPS_DEFAULT = 600;
/** A timer period no run reaches: the engine's timers never fire, so only the seed orders events. */
const NEVER_MS = 1_000_000_000;
/** Refusals that tell the client its change was not made. Any other error leaves the outcome unknown. */
const DEFINITE_REFUSALS = new Set(['STORAGE_UNAVAILABLE', 'CLOSED', 'READ_ONLY']);
/** A wait this long means the engine hung (everything here runs in microseconds): a failure, not a timeout. */
const STALL_MS = 20_000;
/** Starts in a row that may fail (injected faults, crashes during recovery, repairs) before it is a failure. */
const START_ATTEMPTS_MAX = 8;
const RECENT_STEPS_KEPT = 30;
/**
 * How far the simulated clock moves before a freshness check (it moves 1 ms a file-system call
 * otherwise): no check spans that many calls, so a follower whose lagMs reaches it after the check
 * knows it was not current, and one below it believes it is.
 */
const FRESHNESS_GAP_MS = 1000;
const FOLLOWERS_MAX = 2;
/**
 * Bit flips on the medium at once, at most one of them in a snapshot: with SNAPSHOTS_KEPT = 2 a
 * flip rarely destroys the only copy of something (the run then ends early, rightly refused).
 */
const FLIPS_HELD_MAX = 2;
/**
 * Each list in its own organisation, so a lookup in it is plain membership (a project lookup also
 * sees its organisation's master list, which stays empty in 'beta').
 */
const LISTS: readonly ListKey[] = [
  { org: 'default', projId: '' },
  { org: 'acme', projId: '' },
  { org: 'beta', projId: 'p1' },
];
/** 24 numbers in two area codes: small enough that concurrent changes keep touching the same ones. */
const POOL: readonly number[] = [
  ...Array.from({ length: 12 }, (_, i) => 2_125_550_100 + i),
  ...Array.from({ length: 12 }, (_, i) => 6_465_550_100 + i),
];
const STEP_WEIGHTS = {
  batch: 70,
  snapshot: 4,
  followers: 6,
  reopen: 2,
  kill: 2,
  powerLoss: 2,
  followerChurn: 4,
  faultyRestart: 1.5,
  flip: 0.7,
  secondWriter: 0.5,
} as const;
type StepKind = keyof typeof STEP_WEIGHTS;

export interface SeedOptions {
  readonly steps?: number;
  /** Receives the full trace: every step and injected event (and every call, with `calls`). */
  readonly trace?: (line: string) => void;
  readonly calls?: boolean;
  readonly disk?: DiskOptions;
}

export interface SeedFigures {
  changes: number;
  acknowledged: number;
  refused: number;
  unknown: number;
  snapshots: number;
  starts: number;
  processCrashes: number;
  powerLosses: number;
  faults: number;
  bitFlips: number;
  refusedStarts: number;
  repairs: number;
  followerChecks: number;
  /** 1 when injected flips destroyed every copy of acknowledged data and repair rightly refused. */
  destroyed: number;
}

export interface SeedFailure {
  readonly step: number;
  readonly message: string;
  /** The steps before the failure, oldest first. */
  readonly recent: readonly string[];
}

export interface SeedReport {
  readonly seed: number;
  readonly steps: number;
  readonly failure: SeedFailure | null;
  readonly figures: SeedFigures;
  /** Hash of every call and event: equal for two runs of one seed. */
  readonly traceHash: number;
  readonly ms: number;
}

class InvariantBroken extends Error {}
class SeedEnded extends Error {}

interface Writer {
  readonly dnc: DurableDnc;
  readonly process: SimulatedProcess;
}

interface Follower {
  readonly name: string;
  readonly dnc: DncFollower;
}

interface HeldFlip {
  readonly flip: BitFlip;
  readonly kind: 'segment' | 'snapshot';
  /** Segment: seq of the record the flip hit (the first seq for the header); null: in a torn tail. */
  readonly seq: number | null;
}

/** What an engine holds, read through its public lookups: one mask per list, and anything outside the pool. */
interface EngineState {
  readonly masks: number[];
  /** Numbers outside the pool, or lists the run never wrote to: null when there are none. */
  readonly stray: string | null;
}

interface Observation {
  readonly follower: string;
  readonly seq: number;
  readonly state: EngineState;
  readonly when: string;
}

type Settled<T> = { kind: 'value'; value: T } | { kind: 'error'; error: unknown } | { kind: 'died' };

/**
 * Waits for `work` or for `process` to die, whichever comes first (a dead process's calls never
 * return); a wait of STALL_MS means the engine hung.
 */
async function untilDeath<T>(work: Promise<T>, process: SimulatedProcess, what: string): Promise<Settled<T>> {
  let timer: NodeJS.Timeout | undefined;
  const stalled = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new InvariantBroken(`${what} never finished (the engine hung)`)), STALL_MS);
  });
  try {
    return await Promise.race([
      work.then((value): Settled<T> => ({ kind: 'value', value }), (error: unknown): Settled<T> => ({ kind: 'error', error })),
      process.died.then((): Settled<T> => ({ kind: 'died' })),
      stalled,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

function macrotask(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function codeOf(error: unknown): string {
  return (error as { code?: unknown }).code?.toString() ?? (error as Error).name ?? 'unknown';
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Seq of the record of a segment that byte `flip.offset` belongs to, read from the bytes before the flip. */
function flippedRecordSeq(bytes: Buffer, flip: BitFlip, firstSeq: number): number | null {
  if (flip.offset < LOG_SEGMENT_HEADER_BYTES) return firstSeq;
  const original = Buffer.from(bytes);
  original[flip.offset] = flip.value ^ (1 << flip.bit);
  let at = LOG_SEGMENT_HEADER_BYTES;
  for (let seq = firstSeq; at + LOG_RECORD_HEADER_BYTES <= original.length; seq++) {
    const end = at + LOG_RECORD_HEADER_BYTES + original.readUInt32LE(at);
    if (end > original.length || Number(original.readBigUInt64LE(at + 8)) !== seq) return null;
    if (flip.offset < end) return seq;
    at = end;
  }
  return null;
}

/** Reads an engine's state through isBlocked (pure membership in these lists), count and stats. */
function engineState(dnc: Dnc): EngineState {
  const masks = LISTS.map((list) => POOL.reduce((mask, number, i) => (dnc.isBlocked(number, list) ? mask | (1 << i) : mask), 0));
  for (const { org, projId, numbers } of dnc.stats().lists) {
    if (numbers === 0) continue;
    const l = LISTS.findIndex((list) => list.org === org && list.projId === projId);
    if (l === -1) return { masks, stray: `it has a list the run never wrote to (${org}/${projId}, ${numbers} numbers)` };
    if (numbers !== popcount(masks[l]!)) return { masks, stray: `${org}/${projId || 'master'} holds ${numbers} numbers, only ${popcount(masks[l]!)} of them from the run's pool` };
  }
  return { masks, stray: null };
}

export class SeedRun {
  private readonly dice: Dice;
  private readonly history = new History(LISTS, POOL);
  private readonly figures: SeedFigures = {
    changes: 0, acknowledged: 0, refused: 0, unknown: 0, snapshots: 0, starts: 0, processCrashes: 0, powerLosses: 0,
    faults: 0, bitFlips: 0, refusedStarts: 0, repairs: 0, followerChecks: 0, destroyed: 0,
  };
  private disk!: SimulatedDisk;
  private dir = '';
  private writer: Writer | null = null;
  private followers: Follower[] = [];
  private flips: HeldFlip[] = [];
  private observations: Observation[] = [];
  private problems: string[] = [];
  private step = 0;
  private stepLines: string[] = [];
  private recent: string[] = [];
  private processCount = 0;
  private followerCount = 0;
  private faultsAtStart = 0;
  /** What Date.now() returns during the run (see `run`). */
  private clock = 0;
  private readonly segmentBytesMax: number;
  private readonly snapshotLogBytes: number;
  private readonly logger: EngineLogger = {
    info: () => undefined,
    warn: (message) => this.say(`warn: ${message}`),
    error: (message) => this.say(`error: ${message}`),
  };

  constructor(readonly seed: number, private readonly options: SeedOptions = {}) {
    this.dice = new Dice(seed);
    this.segmentBytesMax = this.dice.pick([512, 1024, 2048, 4096, 8192, 16384]);
    this.snapshotLogBytes = this.dice.pick([2048, 8192, 32768]);
  }

  async run(): Promise<SeedReport> {
    const started = performance.now();
    const steps = this.options.steps ?? SEED_STEPS_DEFAULT;
    let failure: SeedFailure | null = null;
    this.dir = path.resolve(await makeMemoryTempDir());
    const restore = installSynchronousFsPromises();
    // A simulated clock: the engine's time-based choices (a follower's lag, when it may reload,
    // record timestamps) then depend on the seed alone, and lagMs can be judged exactly.
    const realNow = Date.now;
    this.clock = realNow();
    Date.now = () => this.clock;
    try {
      this.disk = new SimulatedDisk(this.dir, this.dice, this.options.disk);
      this.disk.onEvent = (line) => this.say(line);
      if (this.options.calls === true) this.disk.onCall = (line) => this.options.trace?.(`    ${line}`);
      this.disk.beforeCall = () => this.interleave();
      this.say(`seed ${this.seed}: segments of ${this.segmentBytesMax} bytes, a snapshot every ${this.snapshotLogBytes} log bytes`);
      await this.start('first start');
      for (this.step = 1; this.step <= steps; this.step++) await this.oneStep();
      this.step = steps + 1;
      await this.finish();
    } catch (error) {
      if (error instanceof SeedEnded) this.say(`seed ended early: ${error.message}`);
      else failure = { step: this.step, message: error instanceof InvariantBroken ? error.message : `unexpected error: ${(error as Error).stack ?? String(error)}`, recent: [...this.recent, this.stepLines.join('\n')] };
    } finally {
      await this.tearDown();
      if (this.disk !== undefined) this.figures.faults = this.disk.faultsFired;
      Date.now = realNow;
      restore();
      await removeDir(this.dir);
    }
    return { seed: this.seed, steps: Math.min(this.step, steps), failure, figures: this.figures, traceHash: this.disk?.traceHash ?? 0, ms: performance.now() - started };
  }

  private say(line: string): void {
    this.stepLines.push(line);
    this.options.trace?.(this.stepLines.length === 1 ? line : `  ${line}`);
  }

  private fail(message: string): never {
    throw new InvariantBroken(message);
  }

  private async oneStep(): Promise<void> {
    this.stepLines = [];
    const kind = this.dice.weighted<StepKind>(STEP_WEIGHTS);
    this.say(`step ${this.step}: ${kind}`);
    await this.runStep(kind);
    this.disarm();
    if (this.writer?.process.dead === true) await this.afterCrash(this.disk.lastCrash ?? 'process');
    this.judgeObservations();
    if (this.problems.length > 0) this.fail(this.problems.join('; '));
    this.checkWriter();
    for (const follower of this.followers) if (this.dice.chance(0.15)) await this.checkFollower(follower, 'after the step', true);
    await this.restartIfStopped();
    this.recent.push(this.stepLines.join('\n'));
    if (this.recent.length > RECENT_STEPS_KEPT) this.recent.shift();
  }

  private async runStep(kind: StepKind): Promise<void> {
    switch (kind) {
      case 'batch': return this.stepBatch();
      case 'snapshot': return this.stepSnapshot();
      case 'followers': return this.stepFollowers();
      case 'reopen': return this.stepReopen();
      case 'kill': return this.stepCrash('process');
      case 'powerLoss': return this.stepCrash('power');
      case 'followerChurn': return this.stepFollowerChurn();
      case 'faultyRestart': return this.stepFaultyRestart();
      case 'flip': return this.stepFlip();
      case 'secondWriter': return this.stepSecondWriter();
    }
  }

  /**
   * Called before every call of a live process: sometimes a follower reads the directory right
   * there (between a write and its flush, say), sometimes other tasks get a turn.
   */
  private interleave(): Promise<void> | null {
    this.clock++;
    const draw = this.dice.unit();
    if (draw < 0.04 && this.followers.length > 0) return this.observe(this.dice.pick(this.followers), 'during a writer call');
    if (draw < 0.3) return macrotask();
    return null;
  }

  private armChaos(faultChance: number, crashChance: number, kinds: readonly FaultKind[] = FAULT_KINDS): void {
    if (this.dice.chance(faultChance)) {
      const fault = { kind: this.dice.pick(kinds), countdown: this.dice.int(1, 3), code: this.dice.pick(['EIO', 'ENOSPC'] as const) };
      this.disk.faults.push(fault);
      this.say(`armed: ${fault.code} on ${fault.kind} #${fault.countdown}`);
    }
    if (this.dice.chance(crashChance)) {
      const crash = { countdown: this.dice.int(1, 12), kind: this.dice.chance(0.5) ? 'process' as const : 'power' as const };
      this.disk.crash = crash;
      this.say(`armed: ${crash.kind === 'power' ? 'power loss' : 'kill -9'} at call +${crash.countdown}`);
    }
  }

  private disarm(): void {
    this.disk.faults = [];
    this.disk.crash = null;
  }

  private randomChange(): { op: 'add' | 'remove'; list: number; mask: number } {
    const count = this.dice.int(1, 4);
    let mask = 0;
    while (popcount(mask) < count) mask |= 1 << this.dice.int(0, POOL.length - 1);
    return { op: this.dice.chance(0.6) ? 'add' : 'remove', list: this.dice.int(0, LISTS.length - 1), mask };
  }

  /** Makes one change through the writer; its outcome goes into the model when (if) the client hears it. */
  private submit(writer: Writer, made: Change[]): Promise<void> {
    const { op, list, mask } = this.randomChange();
    const change = this.history.make(op, list, mask);
    made.push(change);
    this.figures.changes++;
    const { org, projId } = LISTS[list]!;
    const options = { org, ...(projId === '' ? {} : { projId }) };
    const digits = this.history.numbersOf(change).map(String);
    const answer = op === 'add' ? writer.dnc.add(digits, options) : writer.dnc.remove(digits, options);
    return answer.then(
      (result) => {
        if (writer.process.dead) return;
        this.figures.acknowledged++;
        const problem = this.history.acknowledged(change, result.seq);
        if (problem !== null) this.problems.push(problem);
      },
      (error: unknown) => {
        if (writer.process.dead) return;
        if (error instanceof IdncError && DEFINITE_REFUSALS.has(error.code)) {
          this.figures.refused++;
          this.history.rejected(change, error.code);
        } else {
          this.figures.unknown++;
          this.history.unknown(change, `${codeOf(error)}: ${messageOf(error)}`);
        }
      },
    );
  }

  private snapshotCall(writer: Writer): Promise<void> {
    return writer.dnc.snapshot().then(
      () => {
        this.figures.snapshots++;
      },
      (error: unknown) => {
        if (writer.process.dead) return;
        if (error instanceof TypeError || error instanceof RangeError || error instanceof ReferenceError) this.problems.push(`snapshot failed with a bug: ${(error as Error).stack}`);
        else this.say(`snapshot failed: ${codeOf(error)}: ${messageOf(error)}`);
      },
    );
  }

  private async stepBatch(): Promise<void> {
    const writer = this.writer!;
    this.armChaos(0.08, 0.03);
    const count = this.dice.int(1, 5);
    const snapshotAt = this.dice.chance(0.12) ? this.dice.int(0, count) : -1;
    const answers: Promise<void>[] = [];
    const made: Change[] = [];
    for (let i = 0; i <= count && !writer.process.dead; i++) {
      if (i === snapshotAt) {
        this.say('snapshot');
        answers.push(this.snapshotCall(writer));
      }
      if (i < count) answers.push(this.submit(writer, made));
      if (this.dice.chance(0.25)) await macrotask();
    }
    await untilDeath(Promise.all(answers), writer.process, 'a batch');
    this.say(made.map((change) => `${this.history.describe(change)}: ${change.outcome === 'pending' ? 'no answer' : change.outcome} ${change.detail}`).join('; '));
  }

  private async stepSnapshot(): Promise<void> {
    const writer = this.writer!;
    this.armChaos(0.15, 0.08);
    await untilDeath(this.snapshotCall(writer), writer.process, 'a snapshot');
  }

  private async stepFollowers(): Promise<void> {
    for (const follower of this.followers) await this.checkFollower(follower, 'after catching up', true);
  }

  /** A clean close (it must keep everything), sometimes a power loss after it, then a start. */
  private async stepReopen(): Promise<void> {
    const writer = this.writer!;
    const closed = await untilDeath(writer.dnc.close(), writer.process, 'close');
    if (closed.kind === 'died') return;
    if (closed.kind === 'error') this.fail(`close failed: ${codeOf(closed.error)}: ${messageOf(closed.error)}`);
    const open = this.history.pending();
    if (open.length > 0) this.fail(`close resolved with changes still unanswered: ${open.map((change) => `#${change.id}`).join(', ')}`);
    this.writer = null;
    this.disk.kill(writer.process);
    if (this.dice.chance(0.3)) await this.powerLoss();
    await this.start('restart after a clean close');
  }

  private async stepCrash(kind: CrashKind): Promise<void> {
    this.disk.kill(this.writer!.process);
    this.say(kind === 'power' ? 'power loss now' : 'kill -9 now');
    await this.afterCrash(kind);
  }

  /** The writer died (kill -9 or power loss): what it had not answered is unknown; then a start. */
  private async afterCrash(kind: CrashKind): Promise<void> {
    const writer = this.writer!;
    this.writer = null;
    const open = this.history.lifeEnded();
    this.figures.unknown += open.length;
    if (open.length > 0) this.say(`in flight at the crash (outcome unknown): ${open.map((change) => `#${change.id}`).join(', ')}`);
    void writer.dnc.close().catch(() => undefined);
    this.judgeObservations();
    if (kind === 'power') await this.powerLoss();
    else {
      this.figures.processCrashes++;
      for (const follower of this.followers) if (this.dice.chance(0.5)) await this.checkFollower(follower, 'with the writer dead', false);
    }
    await this.start(kind === 'power' ? 'start after power loss' : 'start after kill -9');
  }

  /** Followers die with the machine; the disk keeps what it keeps. */
  private async powerLoss(): Promise<void> {
    this.figures.powerLosses++;
    for (const follower of this.followers) await follower.dnc.close();
    this.followers = [];
    this.say(`power loss: ${this.disk.powerLoss()}`);
  }

  private async stepFollowerChurn(): Promise<void> {
    if (this.followers.length > 0 && (this.followers.length >= FOLLOWERS_MAX || this.dice.chance(0.3))) {
      const follower = this.followers.splice(this.dice.int(0, this.followers.length - 1), 1)[0]!;
      await follower.dnc.close();
      this.say(`follower ${follower.name} closed`);
      return;
    }
    if (this.heldFlips().some((held) => held.kind === 'segment')) return;
    const name = `f${++this.followerCount}`;
    let dnc: DncFollower;
    try {
      dnc = await DncFollower.open({ dataDir: this.dir, watch: false, pollIntervalMs: NEVER_MS, staleAfterMs: NEVER_MS, logger: this.logger });
    } catch (error) {
      // A flipped snapshot whose log is gone leaves the state in the writer's memory alone: a new
      // follower must refuse, naming that file (the writer, restarted, would refuse too).
      if (codeOf(error) === 'DATA_CORRUPT' && this.refusalExcused(error)) {
        this.say(`follower ${name} rightly refuses: ${messageOf(error)}`);
        return;
      }
      this.fail(`follower ${name} cannot open the directory the writer runs on: ${codeOf(error)}: ${messageOf(error)}`);
    }
    const follower = { name, dnc };
    this.followers.push(follower);
    this.say(`follower ${name} opened`);
    await this.checkFollower(follower, 'just opened', true);
  }

  /** A start with a fault or crash armed: recovery's own writes (cutting a torn tail, a new segment) fail. */
  private async stepFaultyRestart(): Promise<void> {
    const writer = this.writer!;
    this.writer = null;
    this.disk.kill(writer.process);
    this.figures.unknown += this.history.lifeEnded().length;
    void writer.dnc.close().catch(() => undefined);
    this.figures.processCrashes++;
    this.say('kill -9, then a start with chaos armed');
    this.armChaos(0.7, 0.3, ['open', 'writev', 'fdatasync', 'ftruncate', 'fsyncDirectory', 'unlink']);
    await this.start('start with chaos armed');
  }

  private async stepFlip(): Promise<void> {
    const held = this.heldFlips();
    if (held.length >= FLIPS_HELD_MAX) return;
    const snapshotHit = held.some((flip) => flip.kind === 'snapshot');
    const flip = this.disk.flipSyncedBit((name) => !snapshotHit || name.startsWith('log-'));
    if (flip === null) return;
    this.figures.bitFlips++;
    const segment = /^log-(\d{16})\.idnclog$/.exec(flip.name);
    const bytes = this.disk.durableBytes(flip.name)!;
    const hit: HeldFlip = segment === null
      ? { flip, kind: 'snapshot', seq: null }
      : { flip, kind: 'segment', seq: flippedRecordSeq(bytes, flip, Number(segment[1])) };
    this.flips.push(hit);
    this.say(`the flip hit ${hit.kind === 'segment' ? `seq ${hit.seq ?? 'none (a torn tail)'}` : 'a snapshot'}`);
    if (hit.kind === 'segment') {
      for (const follower of this.followers) await follower.dnc.close();
      this.followers = [];
    }
  }

  private heldFlips(): HeldFlip[] {
    this.flips = this.flips.filter((held) => this.disk.holds(held.flip));
    return this.flips;
  }

  private async stepSecondWriter(): Promise<void> {
    const process = this.disk.newProcess(`intruder${++this.processCount}`);
    const opened = await untilDeath(DurableDnc.open(this.engineOptions(process)), process, 'a second writer');
    this.disk.kill(process);
    if (opened.kind === 'value') {
      void opened.value.close().catch(() => undefined);
      this.fail('a second writer opened the data directory while the first one holds it');
    }
    if (opened.kind === 'error' && codeOf(opened.error) !== 'DATA_DIR_LOCKED') {
      this.fail(`a second writer was refused with ${codeOf(opened.error)} instead of DATA_DIR_LOCKED: ${messageOf(opened.error)}`);
    }
    this.say('a second writer was refused: DATA_DIR_LOCKED');
  }

  /** A writer stopped by a fault refuses changes until restarted: restart it now and then. */
  private async restartIfStopped(): Promise<void> {
    const writer = this.writer;
    if (writer === null || writer.dnc.stats().log?.writerState === 'open' || !this.dice.chance(0.3)) return;
    this.say(`the writer is ${writer.dnc.stats().log?.writerState}: restarting it`);
    if (this.dice.chance(0.5)) return this.stepReopen();
    return this.stepCrash(this.dice.chance(0.7) ? 'process' : 'power');
  }

  private engineOptions(process: SimulatedProcess): DurableDncOptions {
    return {
      dataDir: this.dir,
      fileSystem: process,
      fsync: 'always',
      snapshotIntervalMs: NEVER_MS,
      snapshotLogBytes: this.snapshotLogBytes,
      segmentBytesMax: this.segmentBytesMax,
      storageProbeIntervalMs: NEVER_MS,
      logger: this.logger,
    };
  }

  /**
   * Starts a writer: a refusal must be DATA_CORRUPT with a reason (a flipped file, or a fault the
   * last writer stopped on), then `idnc repair` runs and the start is tried again.
   */
  private async start(reason: string): Promise<void> {
    let minimumSeq = this.history.acknowledgedSeq;
    let repaired = false;
    for (let attempt = 1; attempt <= START_ATTEMPTS_MAX; attempt++) {
      const process = this.disk.newProcess(`writer${++this.processCount}`);
      const faultsBefore = this.disk.faultsFired;
      const opened = await untilDeath(DurableDnc.open(this.engineOptions(process)), process, 'a start');
      this.disarm();
      if (opened.kind === 'died') {
        this.say('the starting writer died');
        if (this.disk.lastCrash === 'power') await this.powerLoss();
        continue;
      }
      if (opened.kind === 'value') {
        this.started({ dnc: opened.value, process }, minimumSeq, repaired ? `${reason} and idnc repair` : reason);
        return;
      }
      this.disk.kill(process);
      const faultHit = this.disk.faultsFired > faultsBefore;
      const code = codeOf(opened.error);
      this.say(`start refused: ${code}: ${messageOf(opened.error)}`);
      if (faultHit && (code === 'EIO' || code === 'ENOSPC')) continue;
      if (code === 'DATA_CORRUPT' && (faultHit || this.refusalExcused(opened.error))) {
        this.figures.refusedStarts++;
        minimumSeq = await this.repair();
        repaired = true;
        continue;
      }
      this.fail(`${reason}: the start was refused with ${code} although ${this.refusalContext()}: ${messageOf(opened.error)}`);
    }
    this.fail(`${reason}: no start in ${START_ATTEMPTS_MAX} attempts`);
  }

  private refusalExcused(error: unknown): boolean {
    if (this.disk.faultsFired > this.faultsAtStart) return true;
    const message = messageOf(error);
    return this.heldFlips().some((held) => message.includes(held.flip.name));
  }

  private refusalContext(): string {
    const flips = this.heldFlips();
    if (flips.length === 0) return 'no bit flip is on the disk and no fault hit the last writer';
    return `the bit flips on the disk are in ${flips.map((held) => held.flip.name).join(', ')}`;
  }

  /** A writer started: its state must be the model's at its seq, and it must hold `minimumSeq`. */
  private started(writer: Writer, minimumSeq: number, reason: string): void {
    const seq = writer.dnc.lastSeq;
    this.figures.starts++;
    this.judgeObservations();
    if (seq < minimumSeq) {
      const lost = this.history.sequence().slice(seq, minimumSeq).filter((change) => change.outcome === 'acknowledged');
      this.fail(`${reason}: recovered up to seq ${seq}, but seq ${minimumSeq} was acknowledged${this.flips.length > 0 ? ' (and is recoverable)' : ''}: lost ${lost.map((change) => this.history.describe(change)).join(', ')}`);
    }
    const who = `${reason}: the recovered writer`;
    this.judgeState(who, seq, engineState(writer.dnc));
    this.judgeDigest(who, seq, writer.dnc);
    this.history.started(seq);
    this.history.acknowledgedSeq = Math.min(this.history.acknowledgedSeq, Math.max(seq, minimumSeq));
    this.writer = writer;
    this.faultsAtStart = this.disk.faultsFired;
    this.say(`${reason}: recovered seq ${seq}`);
  }

  /** The state of someone at `seq` must be the model's there. */
  private judgeState(who: string, seq: number, state: EngineState): void {
    if (state.stray !== null) this.fail(`${who} is at seq ${seq}, but ${state.stray}`);
    const expected = this.history.masksAt(seq);
    if (expected !== null && expected.every((mask, l) => mask === state.masks[l])) return;
    const why = this.history.explain(seq, state.masks);
    const length = this.history.sequence().length;
    const what = expected === null ? `beyond every change that can be in the log (${length})` : 'and differs from the model there';
    this.fail(`${who} is at seq ${seq} ${what}${why === null ? '' : `: ${why}`}`);
  }

  /** The whole-store digest (src/persist/state-digest.ts) must be the model's too. */
  private judgeDigest(who: string, seq: number, dnc: Dnc): void {
    const expected = this.history.referenceDigest(this.history.masksAt(seq)!);
    if (dnc.digest() !== expected) this.fail(`${who} is at seq ${seq} with the model's numbers, but its state digest differs from the model's`);
  }

  /**
   * `idnc verify` then `idnc repair --yes`, as an operator would; returns the seq the next start must
   * reach: every acknowledged change that the flips on the disk left recoverable.
   */
  private async repair(): Promise<number> {
    this.figures.repairs++;
    const bound = this.recoverableSeq();
    const report = await verifyDataDir(this.dir);
    if (report.startable) this.fail('the start was refused but idnc verify says the directory is startable');
    const plan = await planRepair(this.dir);
    if (plan.impossible !== null) {
      // Repair refuses rather than start without acknowledged changes the flips left no copy of here
      // (an earlier repair may hold them in its backup directory): that is destroyed data, not a bug.
      if (bound === null || bound < this.history.acknowledgedSeq) {
        this.figures.destroyed++;
        throw new SeedEnded(`bit flips destroyed every copy of acknowledged changes and idnc repair rightly refuses: ${plan.impossible}`);
      }
      this.fail(`idnc repair says it cannot repair (${plan.impossible}), but everything up to seq ${bound} is recoverable`);
    }
    for (const name of fs.readdirSync(this.dir)) if (name.startsWith('repair-')) fs.rmSync(path.join(this.dir, name), { recursive: true, force: true });
    const repaired = await applyRepair(this.dir, plan, this.logger);
    this.disk.adoptAll();
    const cut = plan.cut === null ? 'no cut' : `${plan.cut.file} cut at ${plan.cut.offset}`;
    this.say(`repair: ${cut}, ${plan.moveAside.length} files moved aside; it now ends at seq ${repaired.lastSeq}; the model needs seq ${bound ?? 0}`);
    return bound ?? 0;
  }

  /**
   * The highest seq a repair must keep given the flips on the disk: start from an intact snapshot
   * (or seq 0 when the log starts at 1) and read the segments that hold anything after it until the
   * first flipped record (a flip in such a segment before that point stops it there too: the frames
   * after a damaged one cannot be trusted without a resync); segments the start point covers whole
   * do not matter. Capped at the last acknowledged seq; null when no start point is intact.
   */
  private recoverableSeq(): number | null {
    const held = this.heldFlips();
    const names = fs.readdirSync(this.dir).sort();
    const badNames = new Set(held.map((flip) => flip.flip.name));
    const segments = names.map((name) => /^log-(\d{16})\.idnclog$/.exec(name)).filter((match) => match !== null).map((match) => Number(match[1]));
    const snapshots = names.map((name) => /^snapshot-(\d{16})\.idncsnap$/.exec(name)).filter((match) => match !== null && !badNames.has(match[0])).map((match) => Number(match![1]));
    const starts = segments.length === 0 || segments[0] === 1 ? [...snapshots, 0] : snapshots;
    if (starts.length === 0) return null;
    const acknowledged = this.history.acknowledgedSeq;
    const reach = (from: number): number => {
      if (segments.length > 0 && !segments.some((first) => first <= from + 1)) return from;
      let end = acknowledged;
      segments.forEach((first, i) => {
        const last = i + 1 < segments.length ? segments[i + 1]! - 1 : Infinity;
        if (last <= from) return;
        const name = `log-${String(first).padStart(16, '0')}.idnclog`;
        for (const flip of held) if (flip.flip.name === name && flip.seq !== null) end = Math.min(end, Math.max(flip.seq, from + 1) - 1);
        // A gap before the next segment (an earlier repair kept only what a snapshot it trusted
        // needed, and that snapshot has since failed): nothing after the gap connects to `from`.
        if (i + 1 < segments.length) {
          const segmentLast = scanSegment(fs.readFileSync(path.join(this.dir, name)), first).lastSeq;
          if (segmentLast < last) end = Math.min(end, Math.max(segmentLast, from));
        }
      });
      return Math.max(from, Math.min(acknowledged, end));
    };
    return Math.min(acknowledged, Math.max(...starts.map(reach)));
  }

  /** The writer's own state must be the model's at its seq, and hold every acknowledged change. */
  private checkWriter(): void {
    const writer = this.writer;
    if (writer === null) return;
    const seq = writer.dnc.lastSeq;
    if (seq < this.history.acknowledgedSeq) this.fail(`the writer is at seq ${seq}, below the acknowledged seq ${this.history.acknowledgedSeq}`);
    this.judgeState('the writer', seq, engineState(writer.dnc));
  }

  /** A follower reads the directory and its state is recorded, to be judged once outcomes are known. */
  private async observe(follower: Follower, when: string): Promise<void> {
    if (!this.followers.includes(follower)) return;
    await follower.dnc.checkNow();
    if (!this.followers.includes(follower)) return;
    this.figures.followerChecks++;
    this.observations.push({ follower: follower.name, seq: follower.dnc.lastSeq, state: engineState(follower.dnc), when: `${when} (step ${this.step})` });
  }

  private judgeObservations(): void {
    const observations = this.observations;
    this.observations = [];
    for (const seen of observations) this.judgeState(`follower ${seen.follower} ${seen.when}`, seen.seq, seen.state);
  }

  /**
   * Catches a follower up now; when `fresh` and the writer lives, it must have reached the writer's
   * seq, or know that it has not (its lagMs says it was not current at this check: it goes stale).
   */
  private async checkFollower(follower: Follower, when: string, fresh: boolean): Promise<void> {
    if (fresh) this.clock += FRESHNESS_GAP_MS;
    await this.observe(follower, when);
    this.judgeObservations();
    const writer = this.writer;
    if (!fresh || writer === null || writer.process.dead || this.heldFlips().length > 0) return;
    const [seq, writerSeq, lag] = [follower.dnc.lastSeq, writer.dnc.lastSeq, follower.dnc.lagMs];
    if (seq > writerSeq || (seq < writerSeq && lag < FRESHNESS_GAP_MS)) {
      this.fail(`follower ${follower.name} ${when} is at seq ${seq}, the writer at seq ${writerSeq}, and it counts itself current (lag ${lag} ms)`);
    }
  }

  /** The end: a clean close, a power loss, a start that must hold everything, and a follower that agrees. */
  private async finish(): Promise<void> {
    this.stepLines = [];
    this.say('finish: close, power loss, start, follower');
    this.disarm();
    if (this.writer !== null) {
      const writer = this.writer;
      const closed = await untilDeath(writer.dnc.close(), writer.process, 'the final close');
      if (closed.kind === 'error') this.fail(`the final close failed: ${messageOf(closed.error)}`);
      this.writer = null;
      this.disk.kill(writer.process);
    }
    await this.powerLoss();
    await this.start('final start');
    const follower = await DncFollower.open({ dataDir: this.dir, watch: false, pollIntervalMs: NEVER_MS, staleAfterMs: NEVER_MS, logger: this.logger });
    this.followers.push({ name: 'final', dnc: follower });
    await this.checkFollower(this.followers[0]!, 'at the end', true);
    this.judgeDigest('the follower at the end', follower.lastSeq, follower);
    this.recent.push(this.stepLines.join('\n'));
  }

  private async tearDown(): Promise<void> {
    for (const follower of this.followers) await follower.dnc.close().catch(() => undefined);
    this.followers = [];
    const writer = this.writer;
    this.writer = null;
    if (writer === null) return;
    this.disk.kill(writer.process);
    void writer.dnc.close().catch(() => undefined);
  }
}

export async function runSeed(seed: number, options: SeedOptions = {}): Promise<SeedReport> {
  return new SeedRun(seed, options).run();
}

export function formatFailure(report: SeedReport): string {
  const failure = report.failure;
  if (failure === null) return `seed ${report.seed}: ok`;
  return [
    `seed ${report.seed} FAILED at step ${failure.step}: ${failure.message}`,
    'the steps before it:',
    ...failure.recent.map((step) => step.split('\n').map((line) => `  ${line}`).join('\n')),
    `replay: npm run soak -- --seed ${report.seed}`,
  ].join('\n');
}

