// The log writer's `beforeWrite` hook (what a replicated writer publishes through): it sees each
// batch's records, as the bytes then written, with their seqs, before anything is written; when it
// refuses, the batch and what is queued behind it fail with its error, nothing reaches the segment,
// and the next batch takes the same seqs.

import fs from 'node:fs';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { IdncError } from '../../src/errors.js';
import { segmentPath } from '../../src/persist/data-dir.js';
import { nodeFileSystem } from '../../src/persist/file-system.js';
import { LogWriter } from '../../src/persist/log-writer.js';
import type { LogChange } from '../../src/persist/record.js';
import { segmentHeader } from '../../src/persist/segment-scan.js';
import { makeTempDir, recordingLogger, removeDir } from './helpers.js';

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
