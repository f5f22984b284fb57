// A power loss during the flush of a batch that spans pages can keep a later page and lose an
// earlier one: a damaged record with valid records after it at the end of the log. Past the
// durable-seq mark (flushed before every acknowledgement under fsync 'always') none of that batch
// was acknowledged, so startup cuts it; at or below the mark, or without a mark to tell, it is
// corruption and startup refuses.

import fs from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_ORGANISATION } from '../../src/constants.js';
import { DurableDnc } from '../../src/open.js';
import { segmentPath } from '../../src/persist/data-dir.js';
import { durableMarkPath, encodeMark, readDurableMark } from '../../src/persist/durable-mark.js';
import { encodeRecord } from '../../src/persist/record.js';
import { verifyDataDir } from '../../src/persist/verify.js';
import { makeTempDir, recordingLogger, removeDir } from './helpers.js';

const ACKNOWLEDGED = ['5039367187', '5039367188', '5039367189'];
const NEVER_ACKNOWLEDGED = ['2125550101', '2125550102'];

let dir: string;
beforeEach(async () => {
  dir = await makeTempDir();
});
afterEach(async () => {
  await removeDir(dir);
});

/** Three acknowledged adds, then seqs 4 and 5 written behind the mark's back, seq 4 damaged. */
async function logWithTornBatch(): Promise<void> {
  const writer = await DurableDnc.open({ dataDir: dir, logger: recordingLogger() });
  for (const phone of ACKNOWLEDGED) await writer.add(phone);
  await writer.close();
  const records = NEVER_ACKNOWLEDGED.map((phone, index) =>
    encodeRecord(ACKNOWLEDGED.length + 1 + index, { op: 'add', org: DEFAULT_ORGANISATION, projId: '', numbers: Float64Array.of(Number(phone)), ts: Date.now(), keyId: null }),
  );
  records[0]![records[0]!.length - 1]! ^= 0x10;
  fs.appendFileSync(segmentPath(dir, 1), Buffer.concat(records));
}

async function setMark(seq: number): Promise<void> {
  const read = await readDurableMark(dir);
  if (read.kind !== 'ok') throw new Error(`mark ${read.kind}`);
  fs.writeFileSync(durableMarkPath(dir), encodeMark({ ...read.mark, seq }));
}

describe('a damaged record with valid records after it, at the end of the log', () => {
  it('is cut at startup when the durable-seq mark says none of it was acknowledged', async () => {
    await logWithTornBatch();
    const report = await verifyDataDir(dir);
    expect(report.startable).toBe(true);
    expect(report.files.find((file) => file.kind === 'segment')?.outcome).toBe('truncated');

    const logger = recordingLogger();
    const writer = await DurableDnc.open({ dataDir: dir, logger });
    try {
      expect(writer.lastSeq).toBe(ACKNOWLEDGED.length);
      for (const phone of ACKNOWLEDGED) expect(writer.isBlocked(phone)).toBe(true);
      for (const phone of NEVER_ACKNOWLEDGED) expect(writer.isBlocked(phone)).toBe(false);
      expect(logger.text('warn')).toContain('past the durable-seq mark');
      await writer.add('3105550100');
      expect(writer.lastSeq).toBe(ACKNOWLEDGED.length + 1);
    } finally {
      await writer.close();
    }
    const reopened = await DurableDnc.open({ dataDir: dir, logger: recordingLogger() });
    expect(reopened.isBlocked('3105550100')).toBe(true);
    await reopened.close();
  });

  it('makes startup and verify refuse with DATA_CORRUPT when the mark says it was acknowledged', async () => {
    await logWithTornBatch();
    await setMark(ACKNOWLEDGED.length + NEVER_ACKNOWLEDGED.length);
    const report = await verifyDataDir(dir);
    expect(report.startable).toBe(false);
    expect(report.startError).toContain('corrupt at offset');
    expect(report.startError).toContain('the record after seq 3');
    await expect(DurableDnc.open({ dataDir: dir, logger: recordingLogger() })).rejects.toMatchObject({ code: 'DATA_CORRUPT' });
  });

  it('makes startup refuse under fsync interval, where no mark tells', async () => {
    await logWithTornBatch();
    await expect(DurableDnc.open({ dataDir: dir, fsync: 'interval', logger: recordingLogger() })).rejects.toMatchObject({ code: 'DATA_CORRUPT' });
  });
});
