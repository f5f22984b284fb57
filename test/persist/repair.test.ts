// `idnc repair` keeps what recovery can prove: damage in log records a good snapshot covers never
// costs the records after it; wherever a record is damaged, a directory verify calls startable keeps
// everything startup keeps; a repair interrupted at any file-system call can be run again and ends
// the same. And `idnc verify` reports no sequence gap after a corrupt segment.

import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LOG_RECORD_HEADER_BYTES, LOG_SEGMENT_HEADER_BYTES } from '../../src/constants.js';
import { openDnc, type DurableDnc } from '../../src/index.js';
import { listDataDir, segmentPath, snapshotPath } from '../../src/persist/data-dir.js';
import { nodeFileSystem, type PersistFileSystem } from '../../src/persist/file-system.js';
import { encodeRecords, type LogChange } from '../../src/persist/record.js';
import { applyRecord, recoverDataDir } from '../../src/persist/recovery.js';
import { writeRejectedMarker } from '../../src/persist/rejected-records.js';
import { applyRepair, planRepair } from '../../src/persist/repair.js';
import { scanSegment, segmentHeader } from '../../src/persist/segment-scan.js';
import { captureStore, writeSnapshot } from '../../src/persist/snapshot.js';
import { stateDigest } from '../../src/persist/state-digest.js';
import { verifyDataDir } from '../../src/persist/verify.js';
import { DncStore } from '../../src/store/dnc-store.js';
import { errnoError, makeTempDir, numbers, recordingLogger, removeDir } from './helpers.js';

let dir: string;
let image: string;
beforeEach(async () => {
  dir = await makeTempDir('idnc-repair-');
  image = await makeTempDir('idnc-repair-image-');
});
afterEach(async () => {
  await removeDir(dir);
  await removeDir(image);
});

const quiet = recordingLogger();

/** What a writer killed at this instant leaves on disk: the files of `dir` (the lock excepted) in `image`. */
function crashImage(): void {
  fs.rmSync(image, { recursive: true, force: true });
  fs.mkdirSync(image);
  for (const name of fs.readdirSync(dir)) {
    if (name !== 'writer.lock') fs.cpSync(path.join(dir, name), path.join(image, name), { recursive: true });
  }
}

async function recovered(dataDir: string): Promise<{ lastSeq: number; digest: string }> {
  const store = new DncStore();
  const result = await recoverDataDir(store, { dataDir, fileSystem: nodeFileSystem, logger: quiet, mode: 'read' });
  return { lastSeq: result.lastSeq, digest: stateDigest(store) };
}

/** Flips one bit in the body of the record with seq `seq` (its checksum then fails). */
async function damageRecord(dataDir: string, seq: number): Promise<void> {
  const { segments } = await listDataDir(dataDir);
  for (const segment of segments) {
    const bytes = fs.readFileSync(segment.path);
    let found = -1;
    scanSegment(bytes, segment.firstSeq, (record, offset) => {
      if (record.seq === seq) found = offset;
    });
    if (found === -1) continue;
    bytes[found + LOG_RECORD_HEADER_BYTES + 2]! ^= 0x10;
    fs.writeFileSync(segment.path, bytes);
    return;
  }
  throw new Error(`seq ${seq} is in no segment`);
}

async function repair(dataDir: string, fileSystem?: PersistFileSystem): Promise<number> {
  return (await applyRepair(dataDir, await planRepair(dataDir), quiet, fileSystem)).lastSeq;
}

/**
 * Eight changes, one segment each; snapshots at seq 3 and 6, so the writer has removed segments 1
 * to 3 and keeps 4 to 6 (covered by the newest snapshot, kept for the older one) and 7 to 8.
 */
async function writeCoveredLayout(): Promise<DurableDnc> {
  const w = await openDnc({ dataDir: dir, logger: recordingLogger(), segmentBytesMax: 1 });
  for (let i = 0; i < 8; i++) {
    await w.add(numbers(2, 2_125_550_000 + i * 10));
    if (i === 2 || i === 5) await w.snapshot();
  }
  const { segments, snapshots } = await listDataDir(dir);
  expect(segments.map((segment) => segment.firstSeq)).toEqual([4, 5, 6, 7, 8]);
  expect(snapshots.map((snapshot) => snapshot.lastSeq)).toEqual([6, 3]);
  return w;
}

describe('repair keeps what recovery can prove', () => {
  it('keeps every acknowledged change when a segment the newest snapshot covers is damaged', async () => {
    const w = await writeCoveredLayout();
    crashImage();
    await w.close();
    const before = await recovered(image);
    expect(before.lastSeq).toBe(8);
    await damageRecord(image, 5);
    const report = await verifyDataDir(image);
    expect(report.startable).toBe(true);
    expect(report.lastSeq).toBe(8);

    expect(await repair(image)).toBe(8);
    expect(await recovered(image)).toEqual(before);
    const after = await verifyDataDir(image);
    expect(after.files.filter((file) => file.outcome !== 'ok')).toEqual([]);
    const backup = fs.readdirSync(image).find((name) => name.startsWith('repair-'))!;
    expect(fs.readdirSync(path.join(image, backup)).sort()).toEqual([path.basename(segmentPath(image, 4)), path.basename(segmentPath(image, 5))]);
  });

  it('never keeps less than startup would, wherever one record is damaged', async () => {
    const w = await writeCoveredLayout();
    crashImage();
    await w.close();
    const pristine = await makeTempDir('idnc-repair-pristine-');
    try {
      for (const name of fs.readdirSync(image)) fs.cpSync(path.join(image, name), path.join(pristine, name), { recursive: true });
      const full = await recovered(pristine);
      for (let seq = 4; seq <= 8; seq++) {
        fs.rmSync(image, { recursive: true });
        fs.cpSync(pristine, image, { recursive: true });
        await damageRecord(image, seq);
        const report = await verifyDataDir(image);
        const lastSeq = await repair(image);
        if (report.startable) {
          expect(lastSeq, `seq ${seq} damaged`).toBe(report.lastSeq);
          if (report.lastSeq === full.lastSeq) expect(await recovered(image), `seq ${seq} damaged`).toEqual(full);
        } else expect(lastSeq, `seq ${seq} damaged`).toBe(seq - 1);
        expect((await verifyDataDir(image)).startable, `seq ${seq} damaged`).toBe(true);
      }
    } finally {
      await removeDir(pristine);
    }
  });

  it('keeps the records after the snapshot when the segment recovery starts from is damaged before it', async () => {
    const changes: LogChange[] = Array.from({ length: 6 }, (_, i) => ({
      op: 'add' as const,
      org: 'default',
      projId: '',
      numbers: Float64Array.of(2_125_550_000 + i),
      ts: 1,
      keyId: null,
    }));
    const store = new DncStore();
    changes.slice(0, 3).forEach((change, i) => applyRecord(store, { ...change, seq: i + 1 }));
    const captured = captureStore(store);
    await writeSnapshot(nodeFileSystem, dir, snapshotPath(dir, 3), 3, captured);
    captured.release();
    fs.writeFileSync(segmentPath(dir, 1), Buffer.concat([segmentHeader(), ...encodeRecords(1, changes)]));
    const whole = new DncStore();
    changes.forEach((change, i) => applyRecord(whole, { ...change, seq: i + 1 }));
    expect(await recovered(dir)).toEqual({ lastSeq: 6, digest: stateDigest(whole) });

    await damageRecord(dir, 2);
    expect((await verifyDataDir(dir)).startable).toBe(false);
    expect(await repair(dir)).toBe(6);
    expect(await recovered(dir)).toEqual({ lastSeq: 6, digest: stateDigest(whole) });
    expect((await listDataDir(dir)).segments.map((segment) => segment.firstSeq)).toEqual([4]);
  });

  it('can be run again after it was interrupted at any file-system call, and ends the same', async () => {
    const w = await openDnc({ dataDir: dir, logger: recordingLogger() });
    for (let i = 0; i < 6; i++) await w.add(numbers(1, 2_125_550_000 + i));
    crashImage();
    await w.close();
    await damageRecord(image, 4);
    const pristine = await makeTempDir('idnc-repair-pristine-');
    try {
      fs.cpSync(image, pristine, { recursive: true });
      const counting = new FailingFileSystem(Number.POSITIVE_INFINITY);
      expect(await repair(image, counting)).toBe(3);
      const expected = await recovered(image);
      expect(counting.calls).toBeGreaterThan(5);
      for (let failAt = 1; failAt <= counting.calls; failAt++) {
        fs.rmSync(image, { recursive: true });
        fs.cpSync(pristine, image, { recursive: true });
        // A failure the repair can shrug off (closing a flushed file) lets it finish; any other stops it.
        const outcome = await repair(image, new FailingFileSystem(failAt)).then(() => 'finished', (error: Error) => error.message);
        expect(outcome, `call ${failAt}`).toMatch(/^finished$|EIO/);
        expect(await repair(image), `after a failure at call ${failAt}`).toBe(3);
        expect(await recovered(image), `after a failure at call ${failAt}`).toEqual(expected);
      }
    } finally {
      await removeDir(pristine);
    }
  });
});

describe('repair reads segments in bounded chunks', () => {
  const change = (i: number): LogChange => ({ op: 'add', org: 'default', projId: '', numbers: Float64Array.of(2_125_550_000 + i), ts: 1, keyId: null });

  /** Segments holding seqs 1 to `lastSeq`, starting at `firstSeqs`; a snapshot at `snapshotSeq` unless 0. */
  async function writeLog(firstSeqs: number[], lastSeq: number, snapshotSeq: number): Promise<void> {
    firstSeqs.forEach((firstSeq, i) => {
      const end = (firstSeqs[i + 1] ?? lastSeq + 1) - 1;
      const changes = Array.from({ length: end - firstSeq + 1 }, (_, k) => change(firstSeq + k));
      fs.writeFileSync(segmentPath(dir, firstSeq), Buffer.concat([segmentHeader(), ...encodeRecords(firstSeq, changes)]));
    });
    if (snapshotSeq === 0) return;
    const store = new DncStore();
    for (let seq = 1; seq <= snapshotSeq; seq++) applyRecord(store, { ...change(seq), seq });
    const captured = captureStore(store);
    await writeSnapshot(nodeFileSystem, dir, snapshotPath(dir, snapshotSeq), snapshotSeq, captured);
    captured.release();
  }

  /** Every file under `root` by path, the random parts left out (the backup directory's suffix, the mark's epoch). */
  function tree(root: string): Record<string, string> {
    const files: Record<string, string> = {};
    for (const entry of fs.readdirSync(root, { recursive: true, withFileTypes: true })) {
      const full = path.join(entry.parentPath, entry.name);
      if (!entry.isFile() || entry.name === 'writer.lock' || entry.name === 'durable-seq.idncmark') continue;
      files[path.relative(root, full).replace(/^repair-[^/]+/, 'repair-*')] = fs.readFileSync(full).toString('hex');
    }
    return files;
  }

  it.each([
    ['a segment cut in place', async () => writeLog([1], 6, 0), 4],
    ['the records after the snapshot kept in a new segment', async () => writeLog([1], 6, 3), 2],
    ['a damaged segment the snapshot covers moved aside', async () => writeLog([1, 4, 7], 8, 6), 2],
  ] as const)('ends byte for byte as with whole reads: %s', async (_, write, damagedSeq) => {
    await write();
    await damageRecord(dir, damagedSeq);
    fs.cpSync(dir, image, { recursive: true });
    const chunkBytes = LOG_SEGMENT_HEADER_BYTES;
    const writeSizes: number[] = [];
    const markFds = new Set<number>();
    const recording: PersistFileSystem = {
      ...nodeFileSystem,
      open: async (file, flags) => {
        const fd = await nodeFileSystem.open(file, flags);
        if (path.basename(file) === 'durable-seq.idncmark') markFds.add(fd);
        else markFds.delete(fd);
        return fd;
      },
      writev: async (fd, buffers, position) => {
        if (!markFds.has(fd)) writeSizes.push(Buffer.concat(buffers).length);
        await nodeFileSystem.writev(fd, buffers, position);
      },
    };
    const chunked = await planRepair(image, { readChunkBytes: chunkBytes });
    expect(chunked).toEqual(await planRepair(dir));
    await applyRepair(image, chunked, quiet, recording, { readChunkBytes: chunkBytes });
    expect(await repair(dir)).toBe((await recovered(image)).lastSeq);
    expect(tree(image)).toEqual(tree(dir));
    expect(Math.max(0, ...writeSizes)).toBeLessThanOrEqual(chunkBytes);
  });
});

describe('the backup directory', () => {
  it.each([5, 6])('holds the original bytes of every file repair changed or moved, when a marker and a bad record (seq %i) concern one segment', async (damagedSeq) => {
    const changes = Array.from({ length: 6 }, (_, i): LogChange => ({ op: 'add', org: 'default', projId: '', numbers: Float64Array.of(2_125_550_000 + i), ts: 1, keyId: null }));
    const segment = segmentPath(dir, 1);
    fs.writeFileSync(segment, Buffer.concat([segmentHeader(), ...encodeRecords(1, changes)]));
    // Seqs 5 and 6 were rejected but could not be cut, and one of them is damaged since.
    const rejectedAt = Buffer.concat([segmentHeader(), ...encodeRecords(1, changes.slice(0, 4))]).length;
    const marker = await writeRejectedMarker(nodeFileSystem, dir, { segment: path.basename(segment), offset: rejectedAt, firstSeq: 5, lastSeq: 6 });
    await damageRecord(dir, damagedSeq);
    const originals = [fs.readFileSync(segment), fs.readFileSync(marker)];

    expect(await repair(dir)).toBe(4);
    const backup = path.join(dir, fs.readdirSync(dir).find((name) => name.startsWith('repair-'))!);
    const backedUp = fs.readdirSync(backup).map((name) => fs.readFileSync(path.join(backup, name)));
    for (const original of originals) expect(backedUp.some((bytes) => bytes.equals(original))).toBe(true);
  });
});

describe('verify', () => {
  it('reports no sequence gap for the segment after a corrupt one', async () => {
    const change = (i: number): LogChange => ({ op: 'add', org: 'default', projId: '', numbers: Float64Array.of(2_125_550_000 + i), ts: 1, keyId: null });
    fs.writeFileSync(segmentPath(dir, 1), Buffer.concat([segmentHeader(), ...encodeRecords(1, [change(1), change(2), change(3)])]));
    fs.writeFileSync(segmentPath(dir, 4), Buffer.concat([segmentHeader(), ...encodeRecords(4, [change(4), change(5)])]));
    await damageRecord(dir, 2);
    const report = await verifyDataDir(dir);
    expect(report.files.map((file) => [file.file, file.outcome])).toEqual([
      [path.basename(segmentPath(dir, 1)), 'corrupt'],
      [path.basename(segmentPath(dir, 4)), 'ok'],
    ]);
    expect(JSON.stringify(report.files)).not.toContain('gap');
  });
});

/** node:fs, except that its `failAt`-th call (of any kind) fails with EIO without doing anything. */
class FailingFileSystem implements PersistFileSystem {
  calls = 0;
  constructor(private readonly failAt: number) {}

  private async call<T>(run: () => Promise<T>): Promise<T> {
    if (++this.calls === this.failAt) throw errnoError('EIO');
    return run();
  }

  open = (file: string, flags: string): Promise<number> => this.call(() => nodeFileSystem.open(file, flags));
  writev = (fd: number, buffers: readonly Buffer[], position: number): Promise<void> => this.call(() => nodeFileSystem.writev(fd, buffers, position));
  fdatasync = (fd: number): Promise<void> => this.call(() => nodeFileSystem.fdatasync(fd));
  fsync = (fd: number): Promise<void> => this.call(() => nodeFileSystem.fsync(fd));
  ftruncate = (fd: number, length: number): Promise<void> => this.call(() => nodeFileSystem.ftruncate(fd, length));
  close = (fd: number): Promise<void> => this.call(() => nodeFileSystem.close(fd));
  rename = (from: string, to: string): Promise<void> => this.call(() => nodeFileSystem.rename(from, to));
  unlink = (file: string): Promise<void> => this.call(() => nodeFileSystem.unlink(file));
  fsyncDirectory = (file: string): Promise<void> => this.call(() => nodeFileSystem.fsyncDirectory(file));
  tryLockExclusive = nodeFileSystem.tryLockExclusive;
}
