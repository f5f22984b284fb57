// The log writer's `beforeWrite` hook (what a replicated writer publishes through): it sees each
// batch's records, as the bytes then written, with their seqs, before anything is written; when it
// refuses, the batch and what is queued behind it fail with its error, nothing reaches the segment,
// and the next batch takes the same seqs. The next batch is handed to the hook while the one before
// it is flushed (the hook's round trip overlaps the fdatasync); when that flush fails, the next
// batch is refused only after its hook call settled, and nothing of it is written.

import fs from 'node:fs';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { IdncError } from '../../src/errors.js';
import { segmentPath } from '../../src/persist/data-dir.js';
import { nodeFileSystem } from '../../src/persist/file-system.js';
import { LogWriter } from '../../src/persist/log-writer.js';
import type { LogChange } from '../../src/persist/record.js';
import { segmentHeader } from '../../src/persist/segment-scan.js';
import { FaultyFileSystem, makeTempDir, recordingLogger, removeDir } from './helpers.js';

let dir: string;
beforeEach(async () => {
  dir = await makeTempDir('idnc-before-write-');
});
afterEach(async () => {
  await removeDir(dir);
});

function change(number: number): LogChange[] {
  return [{ op: 'add', org: 'default', projId: '', numbers: new Float64Array([number]), ts: 1, keyId: null }];
}

it('hands each batch to beforeWrite before writing it, and writes nothing of a batch it refuses', async () => {
  const file = segmentPath(dir, 1);
  const fd = await nodeFileSystem.open(file, 'wx');
  await nodeFileSystem.writev(fd, [segmentHeader()], 0);
  const seen: { bytes: Buffer; firstSeq: number; lastSeq: number; sizeBefore: number }[] = [];
  let refuse = false;
  const writer = new LogWriter(
    {
      dataDir: dir,
      fileSystem: nodeFileSystem,
      fsync: 'always',
      logger: recordingLogger(),
      beforeWrite: async (frames, firstSeq, lastSeq) => {
        seen.push({ bytes: Buffer.concat(frames), firstSeq, lastSeq, sizeBefore: (await fs.promises.stat(file)).size });
        if (refuse) throw new IdncError('REPLICATION_UNAVAILABLE', 'refused by the test');
      },
    },
    { firstSeq: 1, fd, size: segmentHeader().length },
    0,
  );
  const first = await Promise.all([writer.append(change(2_125_550_001), () => 1), writer.append(change(2_125_550_002), () => 1)]);
  expect(first.map((result) => result.seq)).toEqual([1, 2]);
  refuse = true;
  const sizeBeforeRefusal = (await fs.promises.stat(file)).size;
  await expect(writer.append(change(2_125_550_003), () => 1)).rejects.toMatchObject({ code: 'REPLICATION_UNAVAILABLE' });
  expect((await fs.promises.stat(file)).size).toBe(sizeBeforeRefusal);
  refuse = false;
  expect((await writer.append(change(2_125_550_004), () => 1)).seq).toBe(3);
  await writer.close();

  const written = (await fs.promises.readFile(file)).subarray(segmentHeader().length);
  const accepted = seen.filter((batch) => batch !== seen[seen.length - 2]);
  expect(Buffer.concat(accepted.map((batch) => batch.bytes)).equals(written)).toBe(true);
  expect(seen.map((batch) => [batch.firstSeq, batch.lastSeq])).toEqual([...seen.slice(0, -2).map((batch) => [batch.firstSeq, batch.lastSeq]), [3, 3], [3, 3]]);
  for (const batch of seen) expect(batch.sizeBefore).toBeLessThanOrEqual(sizeBeforeRefusal);
});

/** A writer on a new segment whose hook records each call and waits for `release(firstSeq)` when told to hold it. */
async function heldWriter(fileSystem: FaultyFileSystem, hold: Set<number>) {
  const file = segmentPath(dir, 1);
  const fd = await fileSystem.open(file, 'wx');
  await fileSystem.writev(fd, [segmentHeader()], 0);
  const events: string[] = [];
  const releases = new Map<number, () => void>();
  const called = new Map<number, () => void>();
  const callSeen = new Map<number, Promise<void>>();
  const seen = (firstSeq: number): Promise<void> => {
    if (!callSeen.has(firstSeq)) callSeen.set(firstSeq, new Promise((resolve) => called.set(firstSeq, resolve)));
    return callSeen.get(firstSeq)!;
  };
  const writer = new LogWriter(
    {
      dataDir: dir,
      fileSystem,
      fsync: 'always',
      logger: recordingLogger(),
      beforeWrite: async (_frames, firstSeq, lastSeq) => {
        events.push(`hook ${firstSeq}-${lastSeq}`);
        void seen(firstSeq);
        called.get(firstSeq)!();
        if (hold.has(firstSeq)) await new Promise<void>((resolve) => releases.set(firstSeq, resolve));
        events.push(`hook ${firstSeq} done`);
      },
    },
    { firstSeq: 1, fd, size: segmentHeader().length },
    0,
  );
  return { writer, file, events, seen, release: (firstSeq: number) => releases.get(firstSeq)!() };
}

it('hands the next batch to beforeWrite while the batch before it is flushed, in seq order', async () => {
  const disk = new FaultyFileSystem();
  const { writer, events, seen, release } = await heldWriter(disk, new Set([1]));
  const first = writer.append(change(2_125_550_001), () => 1);
  await seen(1);
  // Queued while the first batch is in the hook: it becomes the next batch.
  const second = writer.append(change(2_125_550_002), () => 1);
  let openGate!: () => void;
  disk.fdatasyncGate = new Promise((resolve) => (openGate = resolve));
  release(1);
  // The first batch's flush has started and cannot finish: the second is in the hook already.
  await disk.fdatasyncStarted(1);
  expect(events).toEqual(['hook 1-1', 'hook 1 done', 'hook 2-2', 'hook 2 done']);
  openGate();
  expect([(await first).seq, (await second).seq]).toEqual([1, 2]);
  await writer.close();
});

it('refuses the batch prepared ahead when the flush before it fails, only once its hook call settled, and writes nothing of it', async () => {
  const disk = new FaultyFileSystem();
  const { writer, file, events, seen, release } = await heldWriter(disk, new Set([1, 2]));
  const first = writer.append(change(2_125_550_001), () => 1).then(() => null, (error: IdncError) => error);
  await seen(1);
  const second = writer.append(change(2_125_550_002), () => 1).then(
    () => null,
    (error: IdncError) => {
      events.push(`second refused: ${error.code}`);
      return error;
    },
  );
  disk.failFdatasync = 'EIO';
  release(1);
  await seen(2);
  expect((await first)?.code).toBe('STORAGE_UNAVAILABLE');
  // The flush failed while the second batch's hook still runs: its refusal waits for the hook.
  expect(events.at(-1)).toBe('hook 2-2');
  release(2);
  expect((await second)?.code).toBe('STORAGE_UNAVAILABLE');
  expect(events.slice(-2)).toEqual(['hook 2 done', 'second refused: STORAGE_UNAVAILABLE']);
  expect((await fs.promises.stat(file)).size).toBe(segmentHeader().length);
  await writer.close();
});
