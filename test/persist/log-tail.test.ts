// The follower's log tail polls: bytes past the durable-seq mark that stay there unchanged (a batch
// of a writer that died before acknowledging it) are read once, not on every poll, and the tail
// still reads on as soon as the mark or the file moves. Reads are counted through the tail's seam.

import fs from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LOG_RECORD_HEADER_BYTES } from '../../src/constants.js';
import { openDnc, type DurableDnc } from '../../src/index.js';
import { listDataDir } from '../../src/persist/data-dir.js';
import { readDurableMark } from '../../src/persist/durable-mark.js';
import { LogTail, type OpenSegmentFile } from '../../src/persist/log-tail.js';
import type { LogRecord } from '../../src/persist/record.js';
import { makeTempDir, numbers, recordingLogger, removeDir } from './helpers.js';

let dir: string;
beforeEach(async () => {
  dir = await makeTempDir();
});
afterEach(async () => {
  await removeDir(dir);
});

describe('a tail past the mark that does not change', () => {
  it('is read once, not at every poll, and reading goes on once the mark moves', async () => {
    const writer = (await openDnc({ dataDir: dir, logger: recordingLogger() })) as DurableDnc;
    await writer.add(numbers(3));
    // A batch the writer started and never acknowledged: a record header whose body never came.
    const segment = (await listDataDir(dir)).segments[0]!.path;
    const torn = Buffer.alloc(LOG_RECORD_HEADER_BYTES);
    torn.writeUInt32LE(4096, 0);
    torn.writeBigUInt64LE(2n, 8);
    fs.appendFileSync(segment, torn);

    let reads = 0;
    const openFile: OpenSegmentFile = async (file, flags) => {
      const handle = await fs.promises.open(file, flags);
      const read = handle.read.bind(handle) as (...args: unknown[]) => unknown;
      Object.assign(handle, { read: (...args: unknown[]) => (reads++, read(...args)) });
      return handle;
    };
    const read = await readDurableMark(dir);
    expect(read.kind).toBe('ok');
    const tail = new LogTail(dir, { segment: null, offset: 0, lastSeq: 0 }, read.kind === 'ok' ? read.mark.epoch : null, openFile);
    const applied: LogRecord[] = [];
    const apply = (record: LogRecord): void => void applied.push(record);
    expect(await tail.read(apply)).toEqual({ kind: 'current', unacknowledgedSeq: null });
    expect(tail.lastSeq).toBe(1);
    const firstPollReads = reads;
    expect(firstPollReads).toBeGreaterThan(0);
    for (let poll = 0; poll < 5; poll++) expect(await tail.read(apply)).toEqual({ kind: 'current', unacknowledgedSeq: null });
    expect(reads - firstPollReads).toBe(0);

    // The writer goes on (over the torn bytes, from its own position) and moves the mark: read again.
    await writer.add(numbers(1, 4_155_550_000));
    expect((await tail.read(apply)).kind).toBe('current');
    expect(tail.lastSeq).toBe(2);
    expect(reads).toBeGreaterThan(firstPollReads);
    expect(applied.map((record) => record.seq)).toEqual([1, 2]);
    await tail.close();
    await writer.close();
  });
});
