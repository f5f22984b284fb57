// Snapshots of lists in the sorted layout (format 2: one item with the list's numbers): they load
// in the layout they were saved in, many per read, both through the in-place read and the whole-
// file read; format 1 files (every list as area bitmaps) still load; and sorted numbers that are not
// ascending, valid and as many as announced are corrupt even under a valid checksum.

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

  it('reports sorted numbers out of order, invalid or fewer than announced as corrupt under a valid checksum', async () => {
    const list = store.listForWrite({ org: 'acme', projId: 'target' });
    const numbers = Float64Array.of(2_015_550_100, 2_015_550_200, 2_015_550_300);
    list.addSorted(numbers);
    const captured = captureStore(store);
    await write(captured);
    captured.release();
    const original = fs.readFileSync(file);
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
    }
  });
});
