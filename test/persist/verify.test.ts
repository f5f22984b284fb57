// verifyDataDir on snapshots whose checksum holds but whose bitmaps CRoaring could not trust: the
// checksum proves the bytes are the ones written, not that they were ever a valid bitmap.

import fs from 'node:fs';
import { crc32 } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { segmentPath, snapshotPath } from '../../src/persist/data-dir.js';
import { nodeFileSystem } from '../../src/persist/file-system.js';
import { encodeRecords } from '../../src/persist/record.js';
import { recoverDataDir } from '../../src/persist/recovery.js';
import { segmentHeader } from '../../src/persist/segment-scan.js';
import { FOOTER_BYTES, captureStore, writeSnapshot } from '../../src/persist/snapshot.js';
import { verifyDataDir } from '../../src/persist/verify.js';
import { DncStore } from '../../src/store/dnc-store.js';
import { makeTempDir, removeDir } from './helpers.js';

const AREA_CODE = 212;
const ADDRESS = { org: 'default', projId: 'spring' };
/** 5,000 even rests: one bitmap container (key 0) of area code 212. */
const RESTS = Array.from({ length: 5000 }, (_, i) => 2 * i);
/** The portable header of one container without runs: cookie, count, one description, one offset. */
const ONE_CONTAINER_HEADER_BYTES = 16;

describe('verifyDataDir', () => {
  let dir: string;
  let file: string;
  let portable: Buffer;

  beforeEach(async () => {
    dir = await makeTempDir('idnc-verify-');
    file = snapshotPath(dir, 1);
    const store = new DncStore();
    const list = store.listForWrite(ADDRESS);
    list.addSorted(Float64Array.from(RESTS, (rest) => AREA_CODE * 1e7 + rest));
    portable = Buffer.from(list.area(AREA_CODE)!.portable());
    const captured = captureStore(store);
    await writeSnapshot(nodeFileSystem, dir, file, 1, captured);
    captured.release();
  });

  afterEach(async () => {
    await removeDir(dir);
  });

  /** Sets one more bit in the bitmap container than it declares, and re-seals the file's checksum. */
  async function addUndeclaredBit(value: number): Promise<void> {
    const bytes = await fs.promises.readFile(file);
    const at = bytes.indexOf(portable);
    expect(at).toBeGreaterThan(0);
    expect(bytes.indexOf(portable, at + 1)).toBe(-1);
    const data = at + ONE_CONTAINER_HEADER_BYTES;
    bytes[data + (value >>> 3)]! |= 1 << (value & 7);
    bytes.writeUInt32LE(crc32(bytes.subarray(0, bytes.length - FOOTER_BYTES)), bytes.length - FOOTER_BYTES);
    await fs.promises.writeFile(file, bytes);
  }

  it('passes a snapshot as written', async () => {
    const report = await verifyDataDir(dir);
    expect(report.files).toEqual([expect.objectContaining({ kind: 'snapshot', outcome: 'ok' })]);
  });

  it('counts the lists of the sorted section beside the others', async () => {
    const store = new DncStore();
    store.listForWrite(ADDRESS).addSorted(Float64Array.from(RESTS, (rest) => AREA_CODE * 1e7 + rest));
    for (const projId of ['a', 'b', 'c']) store.listForWrite({ org: 'default', projId }).addSorted(Float64Array.of(2_015_550_000));
    const captured = captureStore(store);
    await writeSnapshot(nodeFileSystem, dir, snapshotPath(dir, 2), 2, captured);
    captured.release();
    const report = await verifyDataDir(dir);
    expect(report.files.find((entry) => entry.file === 'snapshot-0000000000000002.idncsnap')?.detail).toBe('covers seq 2, 4 lists');
  });

  it('reports a bitmap whose bits disagree with its count, naming the list and area code', async () => {
    await addUndeclaredBit(10_001);
    const report = await verifyDataDir(dir);
    expect(report.files).toHaveLength(1);
    expect(report.files[0]).toMatchObject({ kind: 'snapshot', outcome: 'corrupt' });
    expect(report.files[0]!.detail).toMatch(/organisation "default", project "spring", area code 212: .*bitmap container 0 declares 5000 values and holds 5001/);
  });

  it('refuses to start when the log changes such a bitmap, naming the snapshot, instead of failing half-way or aborting', async () => {
    await addUndeclaredBit(10_001);
    const change = { op: 'add' as const, ...ADDRESS, numbers: Float64Array.of(AREA_CODE * 1e7 + 1), ts: Date.now(), keyId: null };
    await fs.promises.writeFile(segmentPath(dir, 2), Buffer.concat([segmentHeader(), ...encodeRecords(2, [change])]));
    const logger = { info: () => undefined, warn: () => undefined, error: () => undefined };
    const recovery = recoverDataDir(new DncStore(), { dataDir: dir, fileSystem: nodeFileSystem, logger, mode: 'read' });
    await expect(recovery).rejects.toMatchObject({ code: 'DATA_CORRUPT' });
    await expect(recovery).rejects.toThrow(/snapshot-0+1\.idncsnap .*replaying seq 2: corrupt Roaring portable bitmap: area code 212: bitmap container 0 declares 5000 values and holds 5001/);
    const report = await verifyDataDir(dir);
    expect(report.startable).toBe(false);
    expect(report.files.find((f) => f.kind === 'snapshot')).toMatchObject({ outcome: 'corrupt' });
  });
});
