// The ways a large sorted section is written: pieces of lists a load left one after another are
// written as they lie (no copy), and the copied numbers are checksummed by a worker thread. Small
// thresholds here make a small store take both paths. Through random changes, loads and saves,
// a save through them holds what a model holds and has the very bytes of a save without them; it
// writes what was captured while the lists change and their slots are reused; a failure of any write or flush leaves the snapshot before it in force and nothing else; a torn
// file is refused at load.

import fs from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { unpackMultiple } from 'msgpackr';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SORTED_LIST_NUMBERS_MAX } from '../../src/constants.js';
import { nodeFileSystem, type PersistFileSystem } from '../../src/persist/file-system.js';
import { readSnapshot } from '../../src/persist/snapshot-read.js';
import { FOOTER_BYTES, MAGIC_BYTES, captureStore, installSnapshot, writeSnapshot, type SnapshotWriteOptions } from '../../src/persist/snapshot.js';
import { stateDigest } from '../../src/persist/state-digest.js';
import { DncStore } from '../../src/store/dnc-store.js';
import { FailingFileSystem, makeTempDir, removeDir } from './helpers.js';

const SMALL = { writeChunkBytes: 4096, flushBehindBytes: 16 * 1024 };
/** Without the worker and with every piece copied: the plain path. */
const PLAIN: SnapshotWriteOptions = { ...SMALL, checksumWorkerBytesMin: Number.POSITIVE_INFINITY, directPieceNumbersMin: Number.POSITIVE_INFINITY };
/** The worker for any size, and pieces of 64 numbers or more written as they lie. */
const FAST: SnapshotWriteOptions = { ...SMALL, checksumWorkerBytesMin: 0, directPieceNumbersMin: 64 };
const READ = { sortedChunkNumbers: 700 };
const ORGS = ['acme', 'default'] as const;
const LISTS = 120;

type Model = Map<string, Set<number>>;

/** `length` numbers every `step` from a base set by `list` (below 450), in area codes 201 and 503. */
function run(list: number, length: number, step: number): Float64Array {
  return Float64Array.from({ length }, (_, i) => (i % 2 === 0 ? 2_015_550_000 : 5_035_550_000) + list * 9_000 + i * step).sort();
}

function change(store: DncStore, model: Model, org: string, list: number, numbers: Float64Array, adding: boolean): void {
  const projId = list === 0 ? '' : `p${list}`;
  store.change({ org, projId }, numbers, adding);
  const key = `${org}/${projId}`;
  const set = model.get(key) ?? new Set<number>();
  for (const number of numbers) {
    if (adding) set.add(number);
    else set.delete(number);
  }
  if (set.size === 0) model.delete(key);
  else model.set(key, set);
}

function expectModel(store: DncStore, model: Model): void {
  const held = [...store.lists()].filter(([, set]) => set.size > 0).map(([{ org, projId }, set]) => [`${org}/${projId}`, [...set.numbers()]] as const);
  const expected = [...model].map(([key, set]) => [key, [...set].sort((a, b) => a - b)] as const);
  expect(new Map(held)).toEqual(new Map(expected));
}

/** The file's bytes after its header item (which holds the time it was written) up to the footer (whose checksum covers that time). */
function afterHeader(bytes: Buffer): Buffer {
  let headerEnd = 0;
  unpackMultiple(bytes.subarray(MAGIC_BYTES), (_value: unknown, _start?: number, end?: number) => {
    headerEnd = MAGIC_BYTES + end!;
    return false;
  });
  return bytes.subarray(headerEnd, bytes.length - FOOTER_BYTES);
}

describe('the write paths of a large sorted section', () => {
  let dir: string;

  beforeEach(async () => {
    dir = await makeTempDir('idnc-snapshot-paths-');
  });

  afterEach(async () => {
    await removeDir(dir);
  });

  async function save(store: DncStore, seq: number, options: SnapshotWriteOptions, fileSystem: PersistFileSystem = nodeFileSystem): Promise<Buffer> {
    const file = path.join(dir, `snapshot-${seq}.idncsnap`);
    const captured = captureStore(store);
    try {
      await writeSnapshot(fileSystem, dir, file, seq, captured, options);
    } finally {
      captured.release();
    }
    return fs.readFileSync(file);
  }

  async function load(seq: number): Promise<DncStore> {
    const result = await readSnapshot(path.join(dir, `snapshot-${seq}.idncsnap`), READ);
    if (result.outcome !== 'ok') throw new Error(`${result.outcome}: ${result.detail}`);
    const loaded = new DncStore();
    installSnapshot(loaded, result);
    loaded.recount();
    return loaded;
  }

  /** Many small lists over two organisations, a master list past the sorted layout, saved and loaded back. */
  async function loadedStore(model: Model): Promise<DncStore> {
    const store = new DncStore();
    for (let list = 0; list < LISTS; list++) change(store, model, ORGS[list % 2]!, list, run(list, 1 + ((list * 37) % 90), 3), true);
    change(store, model, 'acme', 0, run(0, SORTED_LIST_NUMBERS_MAX + 5, 1), true);
    await save(store, 1, PLAIN);
    return load(1);
  }

  it('holds what a model holds through random changes, loads and saves, with the bytes of the plain path', async () => {
    const step = fc.record({
      op: fc.constantFrom('add', 'remove', 'name', 'drop', 'save'),
      org: fc.constantFrom(...ORGS),
      list: fc.integer({ min: 0, max: LISTS + 20 }),
      length: fc.constantFrom(1, 5, 90, 400),
    });
    let saves = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 12 }), async (steps) => {
        const model: Model = new Map();
        let store = await loadedStore(model);
        for (const { op, org, list, length } of [...steps, { op: 'save', org: 'acme', list: 0, length: 1 } as const]) {
          if (op === 'save') {
            const fast = await save(store, 2, FAST);
            const plain = await save(store, 3, PLAIN);
            expect(afterHeader(fast).equals(afterHeader(plain))).toBe(true);
            expect(stateDigest(await load(3))).toBe(stateDigest(store));
            store = await load(2); // its checksum, computed in parts, checked by the load
            saves++;
          } else if (op === 'name') {
            store.list({ org, projId: `p${list}` });
          } else if (op === 'drop') {
            if (list > 0) store.dropList({ org, projId: `p${list}` });
            if (list > 0) model.delete(`${org}/p${list}`);
          } else {
            change(store, model, org, list, run(list, length, op === 'add' ? 2 : 3), op === 'add');
          }
          expectModel(store, model);
        }
      }),
      { numRuns: 12, seed: 29 },
    );
    expect(saves).toBeGreaterThan(12);
  }, 120_000);

  it('writes the lists as captured while changes and drops go on, freed slots reused meanwhile', async () => {
    const model: Model = new Map();
    const store = await loadedStore(model);
    const digest = stateDigest(store);
    const captured = captureStore(store);
    for (let list = 1; list < LISTS; list++) {
      const address = { org: ORGS[list % 2]!, projId: `p${list}` };
      if (list % 3 === 0) store.dropList(address);
      else store.change(address, run(list, 1 + ((list * 37) % 90), 3), false);
    }
    for (let list = 1; list < LISTS; list++) store.change({ org: 'acme', projId: `q${list}` }, run(list + 300, 1 + ((list * 37) % 90), 1), true);
    try {
      await writeSnapshot(nodeFileSystem, dir, path.join(dir, 'snapshot-2.idncsnap'), 2, captured, FAST);
    } finally {
      captured.release();
    }
    expect(stateDigest(await load(2))).toBe(digest);
  });

  it('leaves the snapshot before in force when any write, flush or fsync of a save fails', async () => {
    const model: Model = new Map();
    const store = await loadedStore(model);
    const before = stateDigest(store);
    for (let list = 1; list < LISTS; list += 3) change(store, model, ORGS[list % 2]!, list, run(list + 200, 30, 1), true);
    for (const kind of ['writev', 'fdatasync', 'fsync'] as const) {
      const counting = new FailingFileSystem(kind);
      await save(store, 2, FAST, counting);
      fs.rmSync(path.join(dir, 'snapshot-2.idncsnap'));
      expect(counting.calls, kind).toBeGreaterThan(kind === 'writev' ? 10 : 0);
      let failed = 0;
      for (let failing = 1; failing <= counting.calls; failing++) {
        const code = failing % 2 === 0 ? 'ENOSPC' : 'EIO';
        const faulty = new FailingFileSystem(kind, failing, code);
        const outcome = await save(store, 2, FAST, faulty).then(() => 'saved', (error: unknown) => error);
        if (faulty.calls < failing) {
          // Flushes behind the writes start only when none is in flight: this save made fewer.
          expect(outcome, `${kind} ${failing}`).toBe('saved');
          fs.rmSync(path.join(dir, 'snapshot-2.idncsnap'));
          continue;
        }
        failed++;
        expect(outcome, `${kind} ${failing}`).toMatchObject({ code });
        expect(fs.readdirSync(dir)).toEqual(['snapshot-1.idncsnap']);
        expect(stateDigest(await load(1)), `${kind} ${failing}`).toBe(before);
      }
      expect(failed, kind).toBeGreaterThan(0);
    }
    await save(store, 2, FAST);
    expect(stateDigest(await load(2))).toBe(stateDigest(store));
  }, 60_000);

  it('refuses a torn file at load: cut anywhere, or a write lost within it', async () => {
    const model: Model = new Map();
    const store = await loadedStore(model);
    for (let list = 2; list < LISTS; list += 5) change(store, model, 'default', list, run(list + 300, 60, 1), true);
    const bytes = await save(store, 2, FAST);
    const file = path.join(dir, 'snapshot-2.idncsnap');
    for (const cut of [1, 4096, bytes.length >> 1, bytes.length - FOOTER_BYTES - 1, bytes.length - FOOTER_BYTES, bytes.length - 1]) {
      fs.writeFileSync(file, bytes.subarray(0, cut));
      expect((await readSnapshot(file, READ)).outcome, `cut at ${cut}`).toMatch(/^(truncated|corrupt)$/);
    }
    for (const lost of [4096, bytes.length >> 1, bytes.length - FOOTER_BYTES - 4096]) {
      const torn = Buffer.from(bytes);
      torn.fill(0, lost, lost + 4096);
      expect(torn.equals(bytes)).toBe(false);
      fs.writeFileSync(file, torn);
      expect(await readSnapshot(file, READ), `a write lost at ${lost}`).toMatchObject({ outcome: 'corrupt' });
    }
    fs.writeFileSync(file, bytes);
    expect(stateDigest(await load(2))).toBe(stateDigest(store));
  });
});
