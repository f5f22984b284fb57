// Reading snapshots: each list straight into its pool when the header gives the layout, the whole
// file otherwise (files written before the layout fields, or a layout that does not add up). Either
// way the loaded store answers exactly as the saved one, and damage is reported, never loaded.

import fs from 'node:fs';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import fc from 'fast-check';
import { Packr, unpackMultiple } from 'msgpackr';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { AREA_REST_MODULUS, SORTED_LIST_NUMBERS_MAX } from '../../src/constants.js';
import { nodeFileSystem } from '../../src/persist/file-system.js';
import { readSnapshot } from '../../src/persist/snapshot-read.js';
import { FOOTER_BYTES, MAGIC_BYTES, captureStore, installSnapshot, writeSnapshot } from '../../src/persist/snapshot.js';
import { stateDigest } from '../../src/persist/state-digest.js';
import { DncStore } from '../../src/store/dnc-store.js';
import type { ListAddress } from '../../src/store/list-id.js';
import { makeTempDir, removeDir } from './helpers.js';

const MASTER: ListAddress = { org: 'default', projId: '' };
const PROJECT: ListAddress = { org: 'default', projId: 'spring-campaign' };
const OTHER_ORG: ListAddress = { org: 'acme', projId: '' };
const FEW_COPIES: ListAddress = { org: 'acme', projId: 'few-copies' };

function sortedUnique(values: number[]): Float64Array {
  return Float64Array.from(new Set(values)).sort();
}

/**
 * Lists in both layouts (src/store/number-set.ts): two in the sorted layout, two in the probe-table
 * layout with every kind of container: dense array containers (bitmap copies, filled on the
 * first probe), sparse arrays, bitmap containers and runs, over several area codes.
 */
function buildStore(): DncStore {
  const store = new DncStore();
  const rests = fc.sample(fc.integer({ min: 0, max: 65_535 }), { numRuns: 6000, seed: 3 });
  const master: number[] = [];
  for (const areaCode of [201, 503, 707, 999]) {
    for (const rest of rests.slice(0, 2500)) master.push(areaCode * AREA_REST_MODULUS + 2_031_616 + rest); // dense array
    for (const rest of rests.slice(0, 300)) master.push(areaCode * AREA_REST_MODULUS + 4_980_736 + rest * 3); // sparse array
    for (let rest = 6_000_000; rest < 6_012_000; rest += 2) master.push(areaCode * AREA_REST_MODULUS + rest); // bitmap
    for (let rest = 9_990_000; rest < 9_999_999; rest++) master.push(areaCode * AREA_REST_MODULUS + rest); // run up to 7 digits
  }
  store.listForWrite(MASTER).addSorted(sortedUnique(master));
  store.listForWrite(PROJECT).addSorted(sortedUnique(rests.slice(0, 2000).map((rest) => 503 * AREA_REST_MODULUS + 2_031_616 + rest)));
  store.listForWrite(OTHER_ORG).addSorted(sortedUnique([2_015_550_123, 3_125_550_000, 9_999_999_999]));
  // One bitmap copy, then many small area codes: the copy's room is only a little more than the
  // item heads of the areas after it, so the bytes must be read far enough into the pool's buffer.
  const fewCopies = rests.slice(0, 2500).map((rest) => 200 * AREA_REST_MODULUS + 2_031_616 + rest);
  // A run, so that the list holds more than a sorted list can (SORTED_LIST_NUMBERS_MAX) and has a pool.
  for (let rest = 7_000_000; rest < 7_000_000 + SORTED_LIST_NUMBERS_MAX; rest++) fewCopies.push(200 * AREA_REST_MODULUS + rest);
  for (let areaCode = 201; areaCode < 520; areaCode++) fewCopies.push(areaCode * AREA_REST_MODULUS + 5_550_000 + areaCode);
  store.listForWrite(FEW_COPIES).addSorted(sortedUnique(fewCopies));
  return store;
}

/** Members and non-members of every container of `store`, including neighbours of each member. */
function probes(store: DncStore): number[] {
  const values: number[] = [];
  for (const [, set] of store.lists()) for (const value of set.numbers()) values.push(value, value + 1, value - 1);
  return values.filter((value) => value >= 2_000_000_000 && value <= 9_999_999_999);
}

function answers(store: DncStore, values: number[]): string {
  return [...store.lists()].map(([, set]) => values.map((value) => (set.has(value) ? '1' : '0')).join('')).join('|');
}

/** Re-encodes a snapshot with another header (same lists), with a valid checksum. */
function withHeader(bytes: Buffer, change: (header: Record<string, unknown>) => Record<string, unknown>): Buffer {
  let header: Record<string, unknown> = {};
  let headerEnd = 0;
  unpackMultiple(bytes.subarray(MAGIC_BYTES), (value: unknown, _start?: number, end?: number) => {
    header = value as Record<string, unknown>;
    headerEnd = MAGIC_BYTES + end!;
    return false;
  });
  const body = Buffer.concat([
    bytes.subarray(0, MAGIC_BYTES),
    new Packr({ useRecords: false }).pack(change(header)),
    bytes.subarray(headerEnd, bytes.length - FOOTER_BYTES),
  ]);
  const footer = Buffer.from(bytes.subarray(bytes.length - FOOTER_BYTES));
  footer.writeUInt32LE(crc32(body), 0);
  return Buffer.concat([body, footer]);
}

describe('readSnapshot', () => {
  let dir: string;
  let file: string;
  let store: DncStore;
  let values: number[];

  beforeEach(async () => {
    dir = await makeTempDir('idnc-snapshot-read-');
    file = path.join(dir, 'snapshot-1.idncsnap');
    store = buildStore();
    values = probes(store);
    const captured = captureStore(store);
    await writeSnapshot(nodeFileSystem, dir, file, 1, captured);
    captured.release();
  });

  afterEach(async () => {
    await removeDir(dir);
  });

  async function load(options: { headReadBytes?: number } = {}): Promise<{ loaded: DncStore; readInPlace: boolean }> {
    const result = await readSnapshot(file, options);
    if (result.outcome !== 'ok') throw new Error(`${result.outcome}: ${result.detail}`);
    const loaded = new DncStore();
    installSnapshot(loaded, result);
    return { loaded, readInPlace: result.readInPlace };
  }

  it('reads each list into its pool: every member and neighbour answers as in the saved store', async () => {
    const { loaded, readInPlace } = await load();
    expect(readInPlace).toBe(true);
    expect(stateDigest(loaded)).toBe(stateDigest(store));
    // The pools hold the file's bytes where bitmap copies go: a copy must not keep any of them.
    expect(answers(loaded, values)).toBe(answers(store, values));
    // Changes after the load reuse and grow the pools like any others.
    const more = sortedUnique(fc.sample(fc.integer({ min: 2_000_000_000, max: 9_999_999_999 }), { numRuns: 20_000, seed: 9 }));
    loaded.listForWrite(MASTER).addSorted(more);
    store.listForWrite(MASTER).addSorted(more);
    expect(answers(loaded, [...values, ...more])).toBe(answers(store, [...values, ...more]));
  });

  it('grows the first read until it holds the whole header', async () => {
    const { loaded, readInPlace } = await load({ headReadBytes: 9 });
    expect(readInPlace).toBe(true);
    expect(stateDigest(loaded)).toBe(stateDigest(store));
  });

  it('reads an undecodable header once, not growing the first read to the whole file first', async () => {
    const bytes = fs.readFileSync(file);
    bytes.set([0xd4, 0x05, 0x00], MAGIC_BYTES); // an extension msgpackr does not know: the header item cannot be decoded
    fs.writeFileSync(file, bytes);
    const probe = await fs.promises.open(file, 'r');
    const fileHandleRead = vi.spyOn(Object.getPrototypeOf(probe) as { read: (...args: unknown[]) => unknown }, 'read');
    await probe.close();
    try {
      expect((await readSnapshot(file, { headReadBytes: 64 })).outcome).toBe('corrupt');
      const requested = fileHandleRead.mock.calls.reduce((sum, call) => sum + (call[2] as number), 0);
      // The footer, the 64-byte head, then the whole file once (growing by 8x would read it twice).
      expect(requested).toBe(FOOTER_BYTES + 64 + bytes.length);
    } finally {
      fileHandleRead.mockRestore();
    }
  });

  it('reads a file without the layout fields (written before them) whole', async () => {
    fs.writeFileSync(file, withHeader(fs.readFileSync(file), ({ listBytes: _b, listPoolWords: _w, ...header }) => header));
    const { loaded, readInPlace } = await load();
    expect(readInPlace).toBe(false);
    expect(answers(loaded, values)).toBe(answers(store, values));
  });

  it('falls back to the whole file when the layout does not hold, and still loads exactly', async () => {
    const original = fs.readFileSync(file);
    const layouts: [string, (header: Record<string, unknown>) => Record<string, unknown>][] = [
      ['list bytes split elsewhere (same total)', (h) => ({ ...h, listBytes: shifted(h.listBytes as number[], 5) })],
      ['pool words too few', (h) => ({ ...h, listPoolWords: (h.listPoolWords as number[]).map(() => 1) })],
      ['pool words beyond any list', (h) => ({ ...h, listPoolWords: (h.listPoolWords as number[]).map(() => 2 ** 40) })],
      ['list bytes not adding up to the file', (h) => ({ ...h, listBytes: (h.listBytes as number[]).map((bytes) => bytes + 1) })],
      ['a count that is not a number', (h) => ({ ...h, listBytes: (h.listBytes as number[]).map(String) })],
    ];
    for (const [name, change] of layouts) {
      fs.writeFileSync(file, withHeader(original, change));
      const { loaded, readInPlace } = await load();
      expect(readInPlace, name).toBe(false);
      expect(answers(loaded, values), name).toBe(answers(store, values));
    }
  });

  it('reports a flipped bit in the header or the lists as corrupt, and a cut file as truncated', async () => {
    const original = fs.readFileSync(file);
    const offsets = [0, 5, 9, 12, 20, 30, 40, 60, 80, 100, 200, Math.floor(original.length / 2), original.length - 12, original.length - 6];
    for (const offset of offsets) {
      const flipped = Buffer.from(original);
      flipped[offset]! ^= 0x10;
      fs.writeFileSync(file, flipped);
      const result = await readSnapshot(file);
      expect(result.outcome, `flip at ${offset}`).toMatch(/^(corrupt|truncated)$/);
    }
    fs.writeFileSync(file, original.subarray(0, Math.floor(original.length / 2)));
    expect((await readSnapshot(file)).outcome).toBe('truncated');
    fs.writeFileSync(file, Buffer.alloc(0));
    expect((await readSnapshot(file)).outcome).toBe('empty');
    fs.rmSync(file);
    expect((await readSnapshot(file)).outcome).toBe('missing');
  });
});

/** Moves `by` bytes from the second list to the first: the total stays, the boundary is wrong. */
function shifted(listBytes: number[], by: number): number[] {
  return listBytes.map((bytes, l) => (l === 0 ? bytes + by : l === 1 ? bytes - by : bytes));
}
