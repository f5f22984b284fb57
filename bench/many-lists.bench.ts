// Many small lists: what a list costs in memory and in time to create, for idnc (openDnc() in
// memory, one add() per list) beside three baselines built from the same numbers in the same run:
// a sorted Float64Array per list, a JS Set per list, and a native RoaringBitmap32 per area code per
// list. Then the goals' own sizes: 100,000 lists of 100 numbers over 100 area codes, and a million
// lists of 1-100 registry-shaped numbers in one process (RSS), with its snapshot saved and loaded
// beside a raw write and read of the same bytes (the save's CPU time too beside the raw write's,
// steadier than wall-clock time on a shared machine), and a read-only follower opening that data directory
// (the load it also does to reload when the writer's compaction leaves it behind) beside a raw read;
// and single lookups on small lists. Checks itself: every layout answers the same probes alike, and
// the loaded snapshot and the follower have the saved digest.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openDnc, type Dnc } from '../src/index.js';
import { snapshotPath } from '../src/persist/data-dir.js';
import { nodeFileSystem } from '../src/persist/file-system.js';
import { captureStore, installSnapshot, writeSnapshot } from '../src/persist/snapshot.js';
import { readSnapshot } from '../src/persist/snapshot-read.js';
import { stateDigest } from '../src/persist/state-digest.js';
import { DncStore } from '../src/store/dnc-store.js';
import { RoaringBitmap32 } from '../src/store/roaring.js';
import { Prng } from './data/prng.js';
import { randomValidNumber, registryNumbers, sortedContains } from './data/registry.js';
import { check, plain, versus } from './figures.js';
import { forceGc, median, memoryDelta, memorySnapshot, probeBatchCase, requireGcUnlessSmoke, runMicro, trackedBytes, type MemorySnapshot } from './harness.js';
import { readInOneCall, writeAndFlush } from './snapshot.bench.js';
import type { BenchContext, Figure, Scenario } from './scenario.js';

const SEED = 23;
const AREA_FACTOR = 10_000_000;
/** Registry-shaped numbers the random lists draw from (every populated area code of the registry). */
const REGISTRY_POOL_NUMBERS = 4_000_000;
const SMOKE_REGISTRY_POOL_NUMBERS = 20_000;
const PROBES = 1 << 16;
const SMOKE_PROBES = 1 << 12;
/** Rounds of the snapshot save/load and their raw baselines (best of). */
const SNAPSHOT_ROUNDS = 3;

/** One row of the table: `lists` lists of numbersMin-numbersMax numbers over `areaCodes` area codes each ('registry': drawn from the registry). */
interface Row {
  readonly lists: number;
  readonly numbersMin: number;
  readonly numbersMax: number;
  readonly areaCodes: number | 'registry';
  /** Which baselines run (the native one per area code is too slow and big at 100,000 lists). */
  readonly baselines: readonly BaselineName[];
}

type BaselineName = 'sorted' | 'set' | 'roaring';
const ALL_BASELINES: readonly BaselineName[] = ['sorted', 'set', 'roaring'];
const BASELINE_LABELS: Record<BaselineName, string> = {
  sorted: 'sorted Float64Array per list',
  set: 'JS Set per list',
  roaring: 'native RoaringBitmap32 per area code per list',
};

const TABLE_ROWS: readonly Row[] = [
  { lists: 2_000, numbersMin: 1, numbersMax: 1, areaCodes: 1, baselines: ALL_BASELINES },
  { lists: 2_000, numbersMin: 100, numbersMax: 100, areaCodes: 1, baselines: ALL_BASELINES },
  { lists: 2_000, numbersMin: 100, numbersMax: 100, areaCodes: 10, baselines: ALL_BASELINES },
  { lists: 2_000, numbersMin: 100, numbersMax: 100, areaCodes: 100, baselines: ALL_BASELINES },
  { lists: 10_000, numbersMin: 100, numbersMax: 100, areaCodes: 'registry', baselines: ALL_BASELINES },
  { lists: 100_000, numbersMin: 100, numbersMax: 100, areaCodes: 100, baselines: ['sorted', 'set'] },
];
const MILLION_ROW: Row = { lists: 1_000_000, numbersMin: 1, numbersMax: 100, areaCodes: 'registry', baselines: ['sorted'] };
const SMOKE_LISTS_DIVISOR = 1000;

const ONE_NUMBER_BYTES_MAX = 512;
const HUNDRED_BY_HUNDRED_BYTES_MAX = 2048;
const CREATE_HUNDRED_US_MAX = 100;
const MILLION_RSS_BYTES_MAX = 1.5 * 1024 ** 3;

function rowLabel(row: Row): string {
  const numbers = row.numbersMin === row.numbersMax ? `${row.numbersMin}` : `${row.numbersMin}-${row.numbersMax}`;
  const areas = row.areaCodes === 'registry' ? 'registry-shaped' : `${row.areaCodes} area code${row.areaCodes === 1 ? '' : 's'}`;
  return `${row.lists} lists x ${numbers} numbers (${areas})`;
}

/** The numbers of each list, made on demand from a seed so a million lists need not be held twice. */
class ListNumbers {
  private readonly rng: Prng;

  constructor(private readonly row: Row, private readonly registry: Float64Array, seed: number) {
    this.rng = new Prng(seed);
  }

  /** The next list's numbers: distinct, in random order (what a client's add sends). */
  next(): Float64Array {
    const { numbersMin, numbersMax, areaCodes } = this.row;
    const rng = this.rng;
    const count = rng.int(numbersMin, numbersMax);
    const seen = new Set<number>();
    const areas = areaCodes === 'registry' ? [] : Array.from({ length: areaCodes }, () => rng.int(200, 999));
    while (seen.size < count) {
      if (areaCodes === 'registry') seen.add(this.registry[rng.int(0, this.registry.length - 1)]!);
      else seen.add(areas[seen.size % areas.length]! * AREA_FACTOR + rng.int(2_000_000, 9_999_999));
    }
    return Float64Array.from(seen);
  }
}

function digitsOf(numbers: Float64Array): string[] {
  return Array.from(numbers, (number) => String(number));
}

interface Built<T> {
  readonly structure: T;
  readonly memory: MemorySnapshot;
  /** Microseconds to create each list, in list order. */
  readonly createUs: Float64Array;
}

/** Builds `row.lists` lists with `create`, timing each, and measures the memory the result holds. */
async function build<T>(row: Row, registry: Float64Array, structure: T, create: (structure: T, l: number, numbers: Float64Array) => unknown): Promise<Built<T>> {
  const lists = new ListNumbers(row, registry, SEED + row.lists);
  const createUs = new Float64Array(row.lists);
  const before = memorySnapshot();
  for (let l = 0; l < row.lists; l++) {
    const numbers = lists.next();
    const started = performance.now();
    const created = create(structure, l, numbers);
    if (created instanceof Promise) await created;
    createUs[l] = (performance.now() - started) * 1000;
  }
  return { structure, memory: memoryDelta(before, memorySnapshot()), createUs };
}

async function buildDnc(row: Row, registry: Float64Array, useDigits: boolean): Promise<Built<Dnc>> {
  const dnc = await openDnc();
  return build(row, registry, dnc, (engine, l, numbers) =>
    useDigits ? engine.add(digitsOf(numbers), { projId: `p${l}` }) : engine.addNumbers(numbers, { projId: `p${l}` }));
}

function buildBaseline(name: BaselineName, row: Row, registry: Float64Array): Promise<Built<Map<string, unknown>>> {
  const lists = new Map<string, unknown>();
  if (name === 'sorted') return build(row, registry, lists, (map, l, numbers) => map.set(`p${l}`, numbers.slice().sort()));
  if (name === 'set') return build(row, registry, lists, (map, l, numbers) => map.set(`p${l}`, new Set(numbers)));
  return build(row, registry, lists, (map, l, numbers) => map.set(`p${l}`, roaringPerArea(numbers)));
}

function roaringPerArea(numbers: Float64Array): Map<number, RoaringBitmap32> {
  const byArea = new Map<number, number[]>();
  for (const number of numbers) {
    const area = Math.floor(number / AREA_FACTOR);
    let rests = byArea.get(area);
    if (rests === undefined) byArea.set(area, (rests = []));
    rests.push(number - area * AREA_FACTOR);
  }
  return new Map([...byArea].map(([area, rests]) => [area, new RoaringBitmap32(rests)]));
}

function baselineHas(name: BaselineName, list: unknown, number: number): boolean {
  if (list === undefined) return false;
  if (name === 'sorted') return sortedContains(list as Float64Array, number);
  if (name === 'set') return (list as Set<number>).has(number);
  const area = Math.floor(number / AREA_FACTOR);
  return (list as Map<number, RoaringBitmap32>).get(area)?.has(number - area * AREA_FACTOR) === true;
}

/** Probes over the lists: half are members of their list (regenerated from the same seed), half not. */
function listProbes(row: Row, registry: Float64Array, count: number): { lists: Int32Array; numbers: Float64Array } {
  const rng = new Prng(SEED + 1);
  const lists = new ListNumbers(row, registry, SEED + row.lists);
  const probeLists = new Int32Array(count);
  const numbers = new Float64Array(count);
  const members: Float64Array[] = [];
  for (let l = 0; l < Math.min(row.lists, count); l++) members.push(lists.next());
  for (let i = 0; i < count; i++) {
    const l = rng.int(0, members.length - 1);
    probeLists[i] = l;
    const list = members[l]!;
    numbers[i] = i % 2 === 0 ? list[rng.int(0, list.length - 1)]! : randomValidNumber(rng);
  }
  return { lists: probeLists, numbers };
}

function perList(bytes: number, lists: number): number {
  return bytes / lists;
}

async function measureRow(row: Row, registry: Float64Array, context: BenchContext, probeCount: number): Promise<Figure[]> {
  const label = rowLabel(row);
  context.log(`many-lists: ${label}`);
  const idnc = await buildDnc(row, registry, true);
  const idncBytes = perList(trackedBytes(idnc.memory), row.lists);
  const idncCreate = median([...idnc.createUs].sort((a, b) => a - b));
  const probes = listProbes(row, registry, probeCount);
  const options = Array.from({ length: row.lists }, (_, l) => ({ projId: `p${l}` }));
  const expected = countIdncHits(idnc.structure, probes, options);
  const figures: Figure[] = [];
  const goals = rowGoals(row, idncBytes, idncCreate);
  figures.push(plain(`memory per list, idnc, ${label}`, idncBytes, 'bytes', goals.memory));
  figures.push(plain(`create one list (add() of its digits), idnc, ${label}, median`, idncCreate, 'us', goals.create));
  const dropIdnc = idnc.structure.close();
  await dropIdnc;
  for (const name of row.baselines) {
    const baseline = await buildBaseline(name, row, registry);
    const hits = countBaselineHits(name, baseline.structure, probes);
    check(hits === expected, `${BASELINE_LABELS[name]} answers the probes as idnc does (${hits} vs ${expected})`);
    const bytes = perList(trackedBytes(baseline.memory), row.lists);
    figures.push(versus(`memory per list, idnc, ${label}`, idncBytes, 'bytes', BASELINE_LABELS[name], bytes));
    figures.push(versus(`create one list, idnc (from digits), ${label}, median`, idncCreate, 'us',
      `${BASELINE_LABELS[name]} (from numbers)`, median([...baseline.createUs].sort((a, b) => a - b))));
    forceGc();
  }
  return figures;
}

function rowGoals(row: Row, bytes: number, createUs: number): { memory: { target?: string; met?: boolean }; create: { target?: string; met?: boolean } } {
  const memory = row.numbersMax === 1
    ? { target: `<= ${ONE_NUMBER_BYTES_MAX} bytes for a one-number list`, met: bytes <= ONE_NUMBER_BYTES_MAX }
    : row.lists >= 100_000 && row.areaCodes === 100
      ? { target: `<= ${HUNDRED_BY_HUNDRED_BYTES_MAX} bytes per list`, met: bytes <= HUNDRED_BY_HUNDRED_BYTES_MAX }
      : {};
  const create = row.numbersMin === 100 ? { target: `<= ${CREATE_HUNDRED_US_MAX} us median`, met: createUs <= CREATE_HUNDRED_US_MAX } : {};
  return { memory, create };
}

function countIdncHits(dnc: Dnc, probes: { lists: Int32Array; numbers: Float64Array }, options: readonly { projId: string }[]): number {
  let hits = 0;
  for (let i = 0; i < probes.numbers.length; i++) if (dnc.isBlocked(probes.numbers[i]!, options[probes.lists[i]!])) hits++;
  return hits;
}

function countBaselineHits(name: BaselineName, lists: Map<string, unknown>, probes: { lists: Int32Array; numbers: Float64Array }): number {
  let hits = 0;
  for (let i = 0; i < probes.numbers.length; i++) if (baselineHas(name, lists.get(`p${probes.lists[i]!}`), probes.numbers[i]!)) hits++;
  return hits;
}

/** isBlocked(number, { projId }) on small lists beside the same lookups in the baselines. */
async function measureLookups(row: Row, registry: Float64Array, context: BenchContext, probeCount: number): Promise<Figure[]> {
  context.log(`many-lists: lookups on ${rowLabel(row)}`);
  const idnc = await buildDnc(row, registry, false);
  const baselines = await Promise.all(ALL_BASELINES.map((name) => buildBaseline(name, row, registry)));
  const probes = listProbes(row, registry, probeCount);
  const options = Array.from({ length: row.lists }, (_, l) => ({ projId: `p${l}` }));
  const keys = options.map(({ projId }) => projId);
  const dnc = idnc.structure;
  const expected = countIdncHits(dnc, probes, options);
  for (const [b, name] of ALL_BASELINES.entries()) check(countBaselineHits(name, baselines[b]!.structure, probes) === expected, `${name} lookups`);
  const { lists, numbers } = probes;
  const results = runMicro(
    [
      probeBatchCase('idnc isBlocked(number, { projId })', probeCount, (start, end) => {
        let hits = 0;
        for (let i = start; i < end; i++) if (dnc.isBlocked(numbers[i]!, options[lists[i]!])) hits++;
        return hits;
      }),
      ...ALL_BASELINES.map((name, b) => probeBatchCase(`${BASELINE_LABELS[name]}: Map.get + lookup`, probeCount, (start, end) => {
        const map = baselines[b]!.structure;
        let hits = 0;
        for (let i = start; i < end; i++) if (baselineHas(name, map.get(keys[lists[i]!]!), numbers[i]!)) hits++;
        return hits;
      })),
    ],
    { smoke: context.smoke },
  );
  await dnc.close();
  const [idncResult, ...baselineResults] = results;
  return baselineResults.map((result) => versus(`isBlocked(number, { projId }), ${rowLabel(row)}`, idncResult!.nsPerOp, 'ns/op', result.name, result.nsPerOp));
}

/** A million lists in one process: RSS, memory per list, and the snapshot save and load against raw I/O. */
async function measureMillion(row: Row, registry: Float64Array, context: BenchContext): Promise<{ figures: Figure[]; sizes: Record<string, number> }> {
  const label = rowLabel(row);
  context.log(`many-lists: ${label}`);
  const store = new DncStore();
  const built = await build(row, registry, store, (target, l, numbers) => target.listForWrite({ org: 'default', projId: `p${l}` }).addSorted(numbers.sort()));
  const rss = memorySnapshot().rss;
  const bytes = perList(trackedBytes(built.memory), row.lists);
  const sorted = await buildBaseline('sorted', row, registry);
  const figures: Figure[] = [
    plain(`process RSS holding ${label}`, rss / 1024 ** 2, 'MB', { target: `<= ${MILLION_RSS_BYTES_MAX / 1024 ** 3} GB`, met: rss <= MILLION_RSS_BYTES_MAX }),
    versus(`memory per list, idnc store, ${label}`, bytes, 'bytes', BASELINE_LABELS.sorted, perList(trackedBytes(sorted.memory), row.lists)),
  ];
  sorted.structure.clear();
  const snapshot = await measureSnapshot(store, context);
  return { figures: [...figures, ...snapshot.figures], sizes: { millionRssMB: Math.round(rss / 1024 ** 2), snapshotBytes: snapshot.bytes } };
}

async function measureSnapshot(store: DncStore, context: BenchContext): Promise<{ figures: Figure[]; bytes: number }> {
  const dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'idnc-bench-many-lists-'));
  const digest = stateDigest(store);
  const rounds = context.smoke ? 1 : SNAPSHOT_ROUNDS;
  const times = { save: [] as number[], rawWrite: [] as number[], load: [] as number[], rawRead: [] as number[], follower: [] as number[], followerRawRead: [] as number[] };
  // CPU time of the process (every thread: the writes' system time, the checksum worker) for the
  // save and the raw write: what the wall-clock ratio comes to on a machine with nothing else to do.
  const cpu = { save: [] as number[], rawWrite: [] as number[] };
  let bytes = 0;
  let loadedDigest = '';
  let followerDigest = '';
  const timed = async (into: number[], run: () => Promise<void>, cpuInto?: number[]): Promise<void> => {
    const cpuBefore = process.cpuUsage();
    const started = performance.now();
    await run();
    into.push(performance.now() - started);
    const { user, system } = process.cpuUsage(cpuBefore);
    cpuInto?.push((user + system) / 1000);
  };
  try {
    for (let round = 0; round < rounds; round++) {
      const file = snapshotPath(dir, round + 1);
      const raw = path.join(dir, `raw-${round}.bin`);
      await timed(times.save, async () => {
        const captured = captureStore(store);
        try {
          bytes = await writeSnapshot(nodeFileSystem, dir, file, round + 1, captured);
        } finally {
          captured.release();
        }
      }, cpu.save);
      await timed(times.rawWrite, () => writeAndFlush(raw, bytes), cpu.rawWrite);
      let loaded = new DncStore();
      await timed(times.load, async () => {
        const load = await readSnapshot(file);
        if (load.outcome !== 'ok') throw new Error(`snapshot did not load: ${load.outcome}`);
        loaded = new DncStore();
        installSnapshot(loaded, load);
      });
      await timed(times.rawRead, () => readInOneCall(file));
      if (round === 0) loadedDigest = stateDigest(loaded);
      await fs.promises.rm(raw, { force: true });
      if (round > 0) await fs.promises.rm(snapshotPath(dir, round), { force: true });
    }
    followerDigest = await measureFollower(dir, snapshotPath(dir, rounds), rounds, times);
  } finally {
    await fs.promises.rm(dir, { recursive: true, force: true });
  }
  check(loadedDigest === digest, 'the loaded snapshot holds exactly the saved lists');
  check(followerDigest === digest, 'the follower holds exactly the saved lists');
  const best = (ms: number[]): number => Math.min(...ms);
  context.log(`many-lists snapshot: ${bytes} bytes, save ${best(times.save).toFixed(0)} ms, load ${best(times.load).toFixed(0)} ms`);
  const lists = [...store.lists()].length;
  return {
    bytes,
    figures: [
      versus(`snapshot save, ${lists} lists (best of ${rounds})`, best(times.save), 'ms', 'write + fdatasync of the same bytes', best(times.rawWrite),
        { target: 'within 2x of the raw write', met: best(times.save) <= 2 * best(times.rawWrite) }),
      versus(`snapshot save, CPU time of the process, ${lists} lists (best of ${rounds})`, best(cpu.save), 'ms', 'CPU time of the raw write + fdatasync', best(cpu.rawWrite)),
      versus(`snapshot load, ${lists} lists (best of ${rounds})`, best(times.load), 'ms', 'one read() of the same file', best(times.rawRead),
        { target: 'within 2x of the raw read', met: best(times.load) <= 2 * best(times.rawRead) }),
      versus(`follower open (its load and reload), ${lists} lists (best of ${rounds})`, best(times.follower), 'ms', 'one read() of the snapshot file', best(times.followerRawRead),
        { target: 'within 2x of the raw read', met: best(times.follower) <= 2 * best(times.followerRawRead) }),
    ],
  };
}

/**
 * A writer opens the directory holding the snapshot (so that it is a data directory as a writer
 * leaves it: its mark written) and closes; then a read-only follower opens it, timed beside one
 * read() of the snapshot file, `rounds` times. Returns the follower's digest.
 */
async function measureFollower(dir: string, file: string, rounds: number, times: { follower: number[]; followerRawRead: number[] }): Promise<string> {
  const writer = await openDnc({ dataDir: dir, logger: QUIET });
  await writer.close();
  let digest = '';
  for (let round = 0; round < rounds; round++) {
    const started = performance.now();
    const follower = await openDnc({ dataDir: dir, readOnly: true, watch: false, logger: QUIET });
    times.follower.push(performance.now() - started);
    if (round === 0) digest = follower.digest();
    await follower.close();
    const readStarted = performance.now();
    await readInOneCall(file);
    times.followerRawRead.push(performance.now() - readStarted);
  }
  return digest;
}

const QUIET = { info: () => undefined, warn: () => undefined, error: () => undefined };

function smokeRow(row: Row): Row {
  return { ...row, lists: Math.max(3, Math.round(row.lists / SMOKE_LISTS_DIVISOR)) };
}

const scenario: Scenario = async (context) => {
  requireGcUnlessSmoke(context.smoke);
  const registry = registryNumbers(context.smoke ? SMOKE_REGISTRY_POOL_NUMBERS : REGISTRY_POOL_NUMBERS, SEED).numbers;
  const probeCount = context.smoke ? SMOKE_PROBES : PROBES;
  const sized = (row: Row): Row => (context.smoke ? smokeRow(row) : row);
  // The million lists first: the process RSS then counts them and little else.
  const million = await measureMillion(sized(MILLION_ROW), registry, context);
  forceGc();
  const figures: Figure[] = [...million.figures];
  for (const row of TABLE_ROWS) figures.push(...(await measureRow(sized(row), registry, context, probeCount)));
  figures.push(...(await measureLookups(sized(TABLE_ROWS[4]!), registry, context, probeCount)));
  return {
    scenario: 'many-lists',
    sizes: { registryPool: registry.length, probes: probeCount, rows: [...TABLE_ROWS, MILLION_ROW].map((row) => rowLabel(sized(row))).join(' / '), ...million.sizes },
    figures,
  };
};

export default scenario;
