// The sorted section of a snapshot (format 3): random changes over small and large lists, across the
// layout thresholds and drops, saved and loaded again and again, always hold what a model holds (by
// lookups, pages and the digest), through the in-place and the whole-file read; a load keeps its
// project lists loaded until named, and writes to them while a capture of them is written change
// nothing in that capture; every damage to the section under a valid checksum is corruption; a save
// that fails at any write leaves no file behind.

import fs from 'node:fs';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import fc from 'fast-check';
import { Packr, unpackMultiple } from 'msgpackr';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AREA_REST_MODULUS, SORTED_LIST_NUMBERS_MAX, SORTED_LIST_NUMBERS_RETURN } from '../../src/constants.js';
import { nodeFileSystem, type PersistFileSystem } from '../../src/persist/file-system.js';
import { readSnapshot } from '../../src/persist/snapshot-read.js';
import { FOOTER_BYTES, MAGIC_BYTES, captureStore, checkSnapshotBytes, installSnapshot, writeSnapshot, type SnapshotLoad } from '../../src/persist/snapshot.js';
import { stateDigest } from '../../src/persist/state-digest.js';
import { DncStore } from '../../src/store/dnc-store.js';
import { MASTER_LIST, type ListAddress } from '../../src/store/list-id.js';
import { FailingFileSystem, makeTempDir, removeDir } from './helpers.js';

const ORGS = ['acme', 'default', 'zeta'] as const;
const PROJECTS = ['', 'a', 'a.1', 'b', 'b-2', 'campaign_7', 'p1', 'p10', 'p2', 'Z'] as const;
/** Run lengths that land on each side of every layout threshold. */
const RUNS = [1, 2, 3, 5, 40, SORTED_LIST_NUMBERS_RETURN - 1, SORTED_LIST_NUMBERS_RETURN + 1, SORTED_LIST_NUMBERS_MAX - 1, SORTED_LIST_NUMBERS_MAX + 1] as const;
const BASE = 2_015_550_000;
/** Small writes and read chunks, so that a small snapshot takes every path of both. */
const WRITE = { writeChunkBytes: 4096, flushBehindBytes: 64 * 1024 };
const READ = { sortedChunkNumbers: 300 };

type Model = Map<string, Set<number>>;
const key = (org: string, projId: string): string => `${org}/${projId}`;

/** Numbers from area codes 201 and 503: a run of `length` numbers every `step` from `offset`. */
function run(offset: number, length: number, step: number): Float64Array {
  return Float64Array.from({ length }, (_, i) => (i % 2 === 0 ? BASE : 5_035_550_000) + offset + i * step).sort();
}

const change = fc.record({
  op: fc.constantFrom('add', 'add', 'remove', 'drop', 'save'),
  org: fc.constantFrom(...ORGS),
  projId: fc.constantFrom(...PROJECTS),
  length: fc.constantFrom(...RUNS),
  offset: fc.integer({ min: 0, max: 3000 }),
  step: fc.constantFrom(1, 2, 7),
  whole: fc.boolean(),
});

function applyToModel(model: Model, address: ListAddress, numbers: Float64Array, adding: boolean): void {
  const set = model.get(key(address.org, address.projId)) ?? new Set<number>();
  for (const number of numbers) {
    if (adding) set.add(number);
    else set.delete(number);
  }
  if (set.size === 0) model.delete(key(address.org, address.projId));
  else model.set(key(address.org, address.projId), set);
}

/** Every list of the store (by its walk, its pages, and its lookups) is the model's. */
function expectModel(store: DncStore, model: Model): void {
  const walked = [...store.lists()].filter(([, set]) => set.size > 0).map(([address, set]) => [key(address.org, address.projId), [...set.numbers()]] as const);
  const expected = [...model.keys()].sort((a, b) => {
    const [orgA, projA] = a.split('/') as [string, string];
    const [orgB, projB] = b.split('/') as [string, string];
    return orgA === orgB ? (projA < projB ? -1 : projA > projB ? 1 : 0) : orgA < orgB ? -1 : 1;
  }).map((name) => [name, [...model.get(name)!].sort((x, y) => x - y)] as const);
  expect(walked).toEqual(expected);
  for (const org of ORGS) {
    const organisation = store.organisation(org);
    const paged: string[] = [];
    for (let after: string | undefined, more = true; more; ) {
      const page = organisation?.page(after, 3) ?? { lists: [], more: false };
      paged.push(...page.lists.map((list) => `${list.projId}:${list.numbers}`));
      after = page.lists.at(-1)?.projId;
      more = page.more;
    }
    expect(paged).toEqual(expected.filter(([name]) => name.startsWith(`${org}/`)).map(([name, numbers]) => `${name.slice(org.length + 1)}:${numbers.length}`));
    const counts = store.organisationCounts().find((counts) => counts.org === org);
    expect(counts?.lists ?? 0).toBe(paged.length);
  }
}

describe('the sorted section of a snapshot', () => {
  let dir: string;
  let file: string;

  beforeEach(async () => {
    dir = await makeTempDir('idnc-snapshot-section-');
    file = path.join(dir, 'snapshot-1.idncsnap');
  });

  afterEach(async () => {
    await removeDir(dir);
  });

  async function save(store: DncStore, fileSystem: PersistFileSystem = nodeFileSystem): Promise<void> {
    const captured = captureStore(store);
    try {
      await writeSnapshot(fileSystem, dir, file, 1, captured, WRITE);
    } finally {
      captured.release();
    }
  }

  async function load(whole = false): Promise<DncStore> {
    const result: SnapshotLoad = whole ? checkSnapshotBytes(fs.readFileSync(file)) : await readSnapshot(file, READ);
    if (result.outcome !== 'ok') throw new Error(`${result.outcome}: ${result.detail}`);
    expect(result.readInPlace).toBe(!whole);
    const loaded = new DncStore();
    installSnapshot(loaded, result);
    loaded.recount();
    return loaded;
  }

  it('holds what a model holds through random changes, drops, saves and loads', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(change, { minLength: 1, maxLength: 24 }), async (changes) => {
        let store = new DncStore();
        const model: Model = new Map();
        for (const { op, org, projId, length, offset, step, whole } of changes) {
          const address = { org, projId };
          if (op === 'save') {
            const digest = stateDigest(store);
            await save(store);
            store = await load(whole);
            expect(stateDigest(store)).toBe(digest);
          } else if (op === 'drop') {
            if (projId !== MASTER_LIST) store.dropList(address);
            if (projId !== MASTER_LIST) model.delete(key(org, projId));
          } else {
            const numbers = run(offset, length, step);
            store.change(address, numbers, op === 'add');
            applyToModel(model, address, numbers, op === 'add');
          }
          expectModel(store, model);
        }
      }),
      { numRuns: 40, seed: 23 },
    );
  }, 120_000);

  it('keeps loaded project lists out of NumberSets until named, and finds each by its id', async () => {
    const store = new DncStore();
    const ids = Array.from({ length: 2000 }, (_, i) => `p${i}`);
    for (const [i, projId] of ids.entries()) store.change({ org: 'acme', projId }, run(i * 3, 1 + (i % 5), 1), true);
    await save(store);
    const loaded = await load();
    const acme = loaded.organisation('acme')!;
    expect(acme.loadedLists?.count).toBe(ids.length);
    expect(acme.project('p-absent')).toBeUndefined();
    // What a library caller passes goes to the lookup unchecked: anything but an id names no list.
    expect(acme.project({ length: 3 } as unknown as string)).toBeUndefined();
    expect(acme.project('p'.repeat(10_000))).toBeUndefined();
    expect(acme.project('p1999')?.size).toBe(1 + (1999 % 5));
    expect(acme.loadedLists?.count).toBe(ids.length - 1);
    // The list named once is held from then on (not loaded twice).
    expect(acme.project('p1999')).toBe(acme.project('p1999'));
    for (const projId of ids) expect(loaded.list({ org: 'acme', projId })?.size, projId).toBe(store.list({ org: 'acme', projId })!.size);
    expect(acme.loadedLists).toBeUndefined();
    expect(stateDigest(loaded)).toBe(stateDigest(store));
  });

  it('writes the lists as captured while later changes and drops go on, loaded lists included', async () => {
    const store = new DncStore();
    for (let i = 0; i < 400; i++) store.change({ org: 'acme', projId: `p${i}` }, run(i * 5, 1 + (i % 60), 3), true);
    await save(store);
    const loaded = await load();
    const captured = captureStore(loaded);
    const digest = stateDigest(loaded);
    // Shrink, grow, drop and recreate loaded lists: freed slots are reused by the new lists.
    for (let i = 0; i < 400; i++) {
      const address = { org: 'acme', projId: `p${i}` };
      if (i % 4 === 0) loaded.change(address, run(i * 5, 1 + (i % 60), 3), false);
      else if (i % 4 === 1) loaded.dropList(address);
      else if (i % 4 === 2) loaded.change(address, run(i * 5 + 1, 1, 1), true);
      else loaded.change(address, run(i * 5, 2, 3), false);
    }
    for (let i = 0; i < 400; i++) loaded.change({ org: 'acme', projId: `q${i}` }, run(10_000 + i, 1 + (i % 60), 1), true);
    try {
      await writeSnapshot(nodeFileSystem, dir, path.join(dir, 'snapshot-2.idncsnap'), 2, captured, WRITE);
    } finally {
      captured.release();
    }
    file = path.join(dir, 'snapshot-2.idncsnap');
    expect(stateDigest(await load())).toBe(digest);
  });

  it('fails a save at any write with the write\'s error and leaves no file behind; the next save succeeds', async () => {
    const store = new DncStore();
    for (let i = 0; i < 300; i++) store.change({ org: `org${i % 3}`, projId: `p${i}` }, run(i * 7, 1 + (i % 40), 2), true);
    store.change({ org: 'org1', projId: 'large' }, run(0, SORTED_LIST_NUMBERS_MAX + 1, 1), true);
    const writes = new FailingFileSystem('writev');
    await save(store, writes);
    fs.rmSync(file);
    expect(writes.calls).toBeGreaterThan(10);
    for (let failing = 1; failing <= writes.calls; failing++) {
      const faulty = new FailingFileSystem('writev', failing, failing % 2 === 0 ? 'ENOSPC' : 'EIO');
      await expect(save(store, faulty), `write ${failing}`).rejects.toMatchObject({ code: failing % 2 === 0 ? 'ENOSPC' : 'EIO' });
      expect(fs.readdirSync(dir)).toEqual([]);
    }
    await save(store);
    expect(stateDigest(await load())).toBe(stateDigest(store));
  }, 60_000);
});

/** A sorted section's organisation group, as a test writes it (a list: its id and its numbers). */
interface Group {
  readonly org: string;
  readonly lists: readonly (readonly [string, readonly number[]])[];
}

/** The table's bytes for `groups`, laid out as snapshot-sorted.ts reads them. */
function tableBytes(groups: readonly Group[], sizeOf = (numbers: readonly number[]): number => numbers.length): Buffer {
  const parts: Buffer[] = [];
  for (const { org, lists } of groups) {
    const head = Buffer.alloc(1 + org.length + 4);
    head.writeUInt8(org.length, 0);
    head.write(org, 1, 'latin1');
    head.writeUInt32LE(lists.length, 1 + org.length);
    const sizes = Buffer.alloc(4 * lists.length);
    lists.forEach(([, numbers], l) => sizes.writeUInt32LE(sizeOf(numbers), 4 * l));
    parts.push(head, sizes, Buffer.from(lists.map(([projId]) => projId.length)), Buffer.from(lists.map(([projId]) => projId).join(''), 'latin1'));
  }
  return Buffer.concat(parts);
}

/** A whole format 3 file holding only sorted lists, its checksum valid; `header` changes the header. */
function sectionFile(groups: readonly Group[], options: { table?: Buffer; header?: Record<string, unknown>; items?: Buffer[] } = {}): Buffer {
  const numbers = groups.flatMap(({ lists }) => lists.flatMap(([, list]) => [...list]));
  const table = options.table ?? tableBytes(groups);
  const items = options.items ?? [];
  const header = {
    format: 3, lastSeq: 1, createdAt: new Date(0).toISOString(), lists: items.length === 0 ? 0 : 1, listBytes: [items.reduce((sum, item) => sum + item.length, 0)].slice(0, items.length === 0 ? 0 : 1),
    listPoolWords: [0].slice(0, items.length === 0 ? 0 : 1), sortedLists: groups.reduce((sum, { lists }) => sum + lists.length, 0), sortedTableBytes: table.length, sortedNumbers: numbers.length,
    ...options.header,
  };
  const body = Buffer.concat([Buffer.from('IDNCSNP1', 'latin1'), new Packr({ useRecords: false }).pack(header), ...items, table, Buffer.from(Float64Array.from(numbers).buffer)]);
  const footer = Buffer.alloc(FOOTER_BYTES);
  footer.writeUInt32LE(crc32(body), 0);
  footer.write('IDNE', 4, 'latin1');
  return Buffer.concat([body, footer]);
}

describe('a damaged sorted section', () => {
  let dir: string;
  let file: string;
  const good: Group[] = [
    { org: 'acme', lists: [['', [2_015_550_100, 2_015_550_200]], ['a', [3_125_550_000]], ['b', [2_015_550_100, 9_995_550_000]]] },
    { org: 'zeta', lists: [['p1', [4_045_550_000, 4_045_550_001, 4_045_550_002]]] },
  ];

  beforeEach(async () => {
    dir = await makeTempDir('idnc-snapshot-damaged-');
    file = path.join(dir, 'snapshot-1.idncsnap');
  });

  afterEach(async () => {
    await removeDir(dir);
  });

  async function outcomes(bytes: Buffer): Promise<string[]> {
    fs.writeFileSync(file, bytes);
    return [(await readSnapshot(file, { sortedChunkNumbers: 2 })).outcome, (await readSnapshot(file)).outcome, checkSnapshotBytes(bytes).outcome];
  }

  it('loads the section as written, in place and whole', async () => {
    expect(await outcomes(sectionFile(good))).toEqual(['ok', 'ok', 'ok']);
    const load = await readSnapshot(file, { sortedChunkNumbers: 2 });
    if (load.outcome !== 'ok') throw new Error(load.detail);
    const store = new DncStore();
    installSnapshot(store, load);
    expect([...store.list({ org: 'acme', projId: 'b' })!.numbers()]).toEqual([2_015_550_100, 9_995_550_000]);
    expect([...store.list({ org: 'acme', projId: MASTER_LIST })!.numbers()]).toEqual([2_015_550_100, 2_015_550_200]);
    expect(store.list({ org: 'zeta', projId: 'p1' })!.size).toBe(3);
  });

  const damaged: [string, () => Buffer][] = [
    ['numbers out of order', () => sectionFile([{ org: 'acme', lists: [['a', [3_125_550_001, 3_125_550_000]]] }])],
    ['a number twice', () => sectionFile([{ org: 'acme', lists: [['a', [3_125_550_000, 3_125_550_000]]] }])],
    ['an invalid number', () => sectionFile([{ org: 'acme', lists: [['a', [1_125_550_000]]] }])],
    ['a number below an exchange of 2', () => sectionFile([{ org: 'acme', lists: [['a', [3_121_550_000]]] }])],
    ['an eleven-digit number', () => sectionFile([{ org: 'acme', lists: [['a', [9_995_550_000, 10_005_550_000]]] }])],
    ['a number past 2^31 area codes', () => sectionFile([{ org: 'acme', lists: [['a', [2 ** 31 * 1e7 + 3_125_550_000]]] }])],
    ['not a number', () => sectionFile([{ org: 'acme', lists: [['a', [Number.NaN]]] }])],
    ['a fraction', () => sectionFile([{ org: 'acme', lists: [['a', [3_125_550_000.5]]] }])],
    ['organisations out of order', () => sectionFile([good[1]!, good[0]!])],
    ['an organisation twice', () => sectionFile([good[0]!, good[0]!])],
    ['project ids out of order', () => sectionFile([{ org: 'acme', lists: [['b', [3_125_550_000]], ['a', [3_125_550_000]]] }])],
    ['a project id twice', () => sectionFile([{ org: 'acme', lists: [['a', [3_125_550_000]], ['a', [3_125_550_001]]] }])],
    ['the master list not first', () => sectionFile([{ org: 'acme', lists: [['a', [3_125_550_000]], ['', [3_125_550_000]]] }])],
    ['an invalid project id', () => sectionFile([{ org: 'acme', lists: [['a b', [3_125_550_000]]] }])],
    ['an invalid organisation id', () => sectionFile([{ org: 'ac/me', lists: [['a', [3_125_550_000]]] }])],
    ['an empty list', () => sectionFile([{ org: 'acme', lists: [['a', []]] }])],
    ['an empty group', () => sectionFile([{ org: 'acme', lists: [] }])],
    ['a list past the sorted layout', () => sectionFile([{ org: 'acme', lists: [['a', Array.from({ length: SORTED_LIST_NUMBERS_MAX + 1 }, (_, i) => BASE + i)]] }])],
    ['sizes that do not match the numbers', () => sectionFile(good, { table: tableBytes(good, (numbers) => numbers.length + 1) })],
    ['fewer lists than announced', () => sectionFile(good, { header: { sortedLists: 5 } })],
    ['more lists than announced', () => sectionFile(good, { header: { sortedLists: 3 } })],
    ['a table shorter than announced', () => sectionFile(good, { header: { sortedTableBytes: tableBytes(good).length - 1 } })],
    ['no sorted fields in a format 3 header', () => sectionFile(good, { header: { sortedLists: undefined } })],
    ['a list saved twice (as items and in the section)', () => sectionFile(good, { items: [new Packr({ useRecords: false }).pack({ org: 'acme', projId: 'a', size: 1, numbers: Buffer.from(Float64Array.of(3_125_550_000).buffer) })] })],
  ];
  for (const [name, bytes] of damaged) {
    it(`reports ${name} as corrupt under a valid checksum`, async () => {
      expect(await outcomes(bytes())).toEqual(['corrupt', 'corrupt', 'corrupt']);
    });
  }

  it('reports a section cut short as truncated and a flipped byte in it as a checksum mismatch', async () => {
    const bytes = sectionFile(good);
    const sectionStart = bytes.length - FOOTER_BYTES - 8 * 8 - tableBytes(good).length;
    for (const cut of [sectionStart + 3, bytes.length - FOOTER_BYTES - 12, bytes.length - 1]) expect(await outcomes(bytes.subarray(0, cut))).toEqual(['truncated', 'truncated', 'truncated']);
    for (const at of [sectionStart + 1, bytes.length - FOOTER_BYTES - 3]) {
      const flipped = Buffer.from(bytes);
      flipped[at]! ^= 0x10;
      fs.writeFileSync(file, flipped);
      const result = await readSnapshot(file);
      expect(result.outcome === 'corrupt' && result.detail).toMatch(/checksum/);
    }
    // The header announces the section the file holds.
    let header: Record<string, unknown> = {};
    unpackMultiple(bytes.subarray(MAGIC_BYTES), (value: unknown) => {
      header = value as Record<string, unknown>;
      return false;
    });
    expect(header).toMatchObject({ format: 3, sortedLists: 4, sortedNumbers: 8 });
  });
});
