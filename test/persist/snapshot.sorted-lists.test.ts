// Snapshots of lists in the sorted layout: they load in the layout they were saved in, many per
// read, both through the in-place read and the whole-file read; files of earlier formats still load
// (format 2: one item per sorted list with its numbers, as idnc wrote them byte by byte; format 1:
// every list as area bitmaps); and a format 2 file's sorted numbers that are not ascending, valid
// and as many as announced are corrupt even under a valid checksum (snapshot-sorted.test.ts has
// the same for format 3).

import fs from 'node:fs';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import { Packr, unpackMultiple } from 'msgpackr';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { AREA_REST_MODULUS, SORTED_LIST_NUMBERS_MAX } from '../../src/constants.js';
import { nodeFileSystem } from '../../src/persist/file-system.js';
import { readSnapshot } from '../../src/persist/snapshot-read.js';
import { FOOTER_BYTES, MAGIC_BYTES, captureStore, installSnapshot, writeSnapshot, type CapturedList, type CapturedStore } from '../../src/persist/snapshot.js';
import { stateDigest } from '../../src/persist/state-digest.js';
import { DncStore } from '../../src/store/dnc-store.js';
import { PortableBitmap } from '../../src/store/portable-bitmap.js';
import { makeTempDir, removeDir } from './helpers.js';

const SMALL_LISTS = 300;

/** Many small project lists over a few organisations, and one master list past the sorted layout. */
function buildStore(): DncStore {
  const store = new DncStore();
  for (let l = 0; l < SMALL_LISTS; l++) {
    const count = 1 + ((l * 37) % 60);
    const numbers = Float64Array.from({ length: count }, (_, i) => (200 + ((l + i * 7) % 800)) * AREA_REST_MODULUS + 2_000_000 + l * 1000 + i).sort();
    store.listForWrite({ org: `org-${l % 3}`, projId: `project-${l}-${'x'.repeat(l % 40)}` }).addSorted(numbers);
  }
  store.listForWrite({ org: 'org-1', projId: '' }).addSorted(Float64Array.from({ length: SORTED_LIST_NUMBERS_MAX + 10 }, (_, i) => 3_125_550_000 + 3 * i));
  return store;
}

function layouts(store: DncStore): string {
  return [...store.lists()].map(([address, set]) => `${address.org}/${address.projId}:${set.isSortedLayout ? 'sorted' : 'table'}`).join(',');
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
  return resealed(Buffer.concat([
    bytes.subarray(0, MAGIC_BYTES),
    new Packr({ useRecords: false }).pack(change(header)),
    bytes.subarray(headerEnd),
  ]));
}

/** The file with its footer's checksum recomputed over its (changed) body. */
function resealed(bytes: Buffer): Buffer {
  const sealed = Buffer.from(bytes);
  sealed.writeUInt32LE(crc32(sealed.subarray(0, sealed.length - FOOTER_BYTES)), sealed.length - FOOTER_BYTES);
  return sealed;
}

/** The msgpack fixstr or str8 of an ASCII id. */
function msgpackString(value: string): Buffer {
  const head = value.length <= 31 ? Buffer.of(0xa0 | value.length) : Buffer.of(0xd9, value.length);
  return Buffer.concat([head, Buffer.from(value, 'latin1')]);
}

/**
 * `store` as a format 2 file, as idnc wrote one before the sorted section: lists in walk order,
 * each sorted list one item `{ org, projId, size, numbers }` laid out as that writer laid it out
 * (size a uint32, numbers a bin32), the others a head and area items; with or without the layout
 * fields (`listBytes`, `listPoolWords`).
 */
function format2File(store: DncStore, layoutFields: boolean): Buffer {
  const packr = new Packr({ useRecords: false });
  const items: Buffer[][] = [];
  const poolWords: number[] = [];
  for (const [address, set] of store.lists()) {
    if (set.size === 0) continue;
    if (set.isSortedLayout) {
      const numbers = Buffer.from(Float64Array.from(set.numbers()).buffer);
      const size = Buffer.alloc(5);
      size.writeUInt8(0xce, 0);
      size.writeUInt32BE(set.size, 1);
      const bin = Buffer.alloc(5);
      bin.writeUInt8(0xc6, 0);
      bin.writeUInt32BE(numbers.length, 1);
      items.push([Buffer.of(0x84), msgpackString('org'), msgpackString(address.org), msgpackString('projId'), msgpackString(address.projId),
        msgpackString('size'), size, msgpackString('numbers'), bin, numbers]);
      poolWords.push(0);
      continue;
    }
    const areas = [...set.portableAreas()].map(([area, bytes]) => [area, Buffer.from(bytes)] as const);
    items.push([packr.pack({ org: address.org, projId: address.projId, size: set.size, areas: areas.length }), ...areas.map(([area, bitmap]) => packr.pack({ area, bitmap }))]);
    poolWords.push(areas.reduce((words, [, bitmap]) => words + PortableBitmap.regionWords(bitmap), 0));
  }
  const layout = layoutFields ? { listBytes: items.map((parts) => Buffer.concat(parts).length), listPoolWords: poolWords } : {};
  const header = { format: 2, lastSeq: 1, createdAt: new Date(0).toISOString(), lists: items.length, ...layout };
  return resealed(Buffer.concat([Buffer.from('IDNCSNP1', 'latin1'), packr.pack(header), ...items.flat(), Buffer.from('\0\0\0\0IDNE', 'latin1')]));
}

describe('snapshots of lists in the sorted layout', () => {
  let dir: string;
  let file: string;
  let store: DncStore;

  beforeEach(async () => {
    dir = await makeTempDir('idnc-snapshot-sorted-');
    file = path.join(dir, 'snapshot-1.idncsnap');
    store = buildStore();
  });

  afterEach(async () => {
    await removeDir(dir);
  });

  async function write(lists: readonly CapturedList[] | CapturedStore): Promise<void> {
    await writeSnapshot(nodeFileSystem, dir, file, 1, Array.isArray(lists) ? { lists } : lists as CapturedStore);
  }

  async function load(): Promise<{ loaded: DncStore; readInPlace: boolean }> {
    const result = await readSnapshot(file);
    if (result.outcome !== 'ok') throw new Error(`${result.outcome}: ${result.detail}`);
    const loaded = new DncStore();
    installSnapshot(loaded, result);
    return { loaded, readInPlace: result.readInPlace };
  }

  it('loads each list in the layout it was saved in, many sorted lists per read', async () => {
    const captured = captureStore(store);
    await write(captured);
    captured.release();
    const probe = await fs.promises.open(file, 'r');
    const fileHandleRead = vi.spyOn(Object.getPrototypeOf(probe) as { read: (...args: unknown[]) => unknown }, 'read');
    await probe.close();
    let loaded: DncStore;
    try {
      const result = await load();
      expect(result.readInPlace).toBe(true);
      loaded = result.loaded;
      expect(fileHandleRead.mock.calls.length).toBeLessThan(20);
    } finally {
      fileHandleRead.mockRestore();
    }
    expect(stateDigest(loaded)).toBe(stateDigest(store));
    expect(layouts(loaded)).toBe(layouts(store));
    expect(layouts(store)).toContain(':table');
    // The whole-file read (no layout fields) loads the same.
    fs.writeFileSync(file, withHeader(fs.readFileSync(file), ({ listBytes: _b, listPoolWords: _w, ...header }) => header));
    const whole = await load();
    expect(whole.readInPlace).toBe(false);
    expect(stateDigest(whole.loaded)).toBe(stateDigest(store));
    expect(layouts(whole.loaded)).toBe(layouts(store));
  });

  it('loads a format 2 file in place (many sorted items per read) and whole, and saves it again as format 3', async () => {
    for (const layoutFields of [true, false]) {
      fs.writeFileSync(file, format2File(store, layoutFields));
      const { loaded, readInPlace } = await load();
      expect(readInPlace).toBe(layoutFields);
      expect(stateDigest(loaded)).toBe(stateDigest(store));
      expect(layouts(loaded)).toBe(layouts(store));
      const captured = captureStore(loaded);
      await write(captured);
      captured.release();
      const again = await load();
      expect(again.readInPlace).toBe(true);
      expect(stateDigest(again.loaded)).toBe(stateDigest(store));
    }
  });

  it('loads a format 1 file, every list as area bitmaps: small lists come back in the sorted layout', async () => {
    const lists: CapturedList[] = [...store.lists()].filter(([, set]) => set.size > 0).map(([address, set]) => ({
      address,
      size: set.size,
      areas: [...set.portableAreas()].map(([area, bytes]) => [area, Buffer.from(bytes)] as const),
    }));
    await write(lists);
    fs.writeFileSync(file, withHeader(fs.readFileSync(file), (header) => ({ ...header, format: 1 })));
    const { loaded, readInPlace } = await load();
    expect(readInPlace).toBe(true);
    expect(stateDigest(loaded)).toBe(stateDigest(store));
    expect(layouts(loaded)).toBe(layouts(store));
  });

  it('reads a sorted list encoded otherwise than idnc writes it (msgpackr\'s own encoding) in place', async () => {
    const packr = new Packr({ useRecords: false });
    const numbers = Float64Array.of(2_015_550_100, 2_015_550_200, 3_125_550_000);
    const item = packr.pack({ org: 'acme', projId: 'packed', size: numbers.length, numbers: Buffer.from(numbers.buffer) });
    const header = { format: 2, lastSeq: 1, createdAt: new Date(0).toISOString(), lists: 1, listBytes: [item.length], listPoolWords: [0] };
    fs.writeFileSync(file, resealed(Buffer.concat([Buffer.from('IDNCSNP1', 'latin1'), packr.pack(header), item, Buffer.from('\0\0\0\0IDNE', 'latin1')])));
    const { loaded, readInPlace } = await load();
    expect(readInPlace).toBe(true);
    expect([...loaded.list({ org: 'acme', projId: 'packed' })!.numbers()]).toEqual([...numbers]);
  });

  it('refuses a format it does not know', async () => {
    const captured = captureStore(store);
    await write(captured);
    captured.release();
    fs.writeFileSync(file, withHeader(fs.readFileSync(file), (header) => ({ ...header, format: 4 })));
    const result = await readSnapshot(file);
    expect(result.outcome).toBe('corrupt');
    expect(result.outcome === 'corrupt' && result.detail).toMatch(/unknown format version/);
  });

  it('reports sorted numbers of a format 2 file out of order, invalid or fewer than announced as corrupt under a valid checksum', async () => {
    const list = store.listForWrite({ org: 'acme', projId: 'target' });
    const numbers = Float64Array.of(2_015_550_100, 2_015_550_200, 2_015_550_300);
    list.addSorted(numbers);
    const original = format2File(store, true);
    const at = original.indexOf(Buffer.from(numbers.buffer));
    expect(at).toBeGreaterThan(0);
    const damages: [string, (bytes: Buffer) => void][] = [
      ['out of order', (bytes) => bytes.writeDoubleLE(2_015_550_350, at + 8)],
      ['a duplicate', (bytes) => bytes.writeDoubleLE(2_015_550_100, at + 8)],
      ['not a valid number', (bytes) => bytes.writeDoubleLE(1_015_550_100, at)],
      ['size beyond the numbers', (bytes) => bytes.writeUInt32BE(4, at - 5 - 8 - 4)],
    ];
    for (const [name, damage] of damages) {
      const bytes = Buffer.from(original);
      damage(bytes);
      fs.writeFileSync(file, resealed(bytes));
      const result = await readSnapshot(file);
      expect(result.outcome, name).toBe('corrupt');
      fs.writeFileSync(file, resealed(Buffer.from(withHeader(bytes, ({ listBytes: _b, listPoolWords: _w, ...header }) => header))));
      expect((await readSnapshot(file)).outcome, `${name}, read whole`).toBe('corrupt');
    }
  });
});
