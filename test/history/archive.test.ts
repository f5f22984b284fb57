// Keeping the log for history: segments a snapshot covers move to history/ with a summary (mode
// 0600, in a 0700 directory), stay queryable and verifiable across restarts, and are removed whole
// once their last record is older than the retention, judged by an injected clock; a retention under
// 5 years warns at every open.

import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { crc32 } from 'node:zlib';
import { LOG_RECORD_HEADER_BYTES, LOG_SEGMENT_HEADER_BYTES } from '../../src/constants.js';
import { openDnc, type DurableDnc } from '../../src/open.js';
import { listHistory } from '../../src/history/archive.js';
import { readSummary, summaryKey, summaryPath } from '../../src/history/segment-summary.js';
import { verifyChain } from '../../src/history/verify-chain.js';
import { nodeFileSystem, type PersistFileSystem } from '../../src/persist/file-system.js';
import { errnoError, makeTempDir, recordingLogger, removeDir } from '../persist/helpers.js';

const DAY = 86_400_000;
let dir: string;
beforeEach(async () => {
  dir = await makeTempDir('idnc-archive-');
});
afterEach(async () => {
  await removeDir(dir);
});

/** Changes in three rounds, each closed by a snapshot, so the first rounds' segments are archived. */
async function threeRounds(dnc: DurableDnc): Promise<void> {
  for (let round = 0; round < 3; round++) {
    await dnc.add(String(5039367100 + round), { source: 'web' });
    await dnc.remove(String(5039367100 + round), { projId: 'p' });
    await dnc.snapshot();
  }
}

describe('history/', () => {
  it('receives the covered segments with their summaries, owner-only, and they stay queryable and verifiable', async () => {
    const dnc = await openDnc({ dataDir: dir, logger: recordingLogger() });
    await threeRounds(dnc);
    await dnc.close();
    const archived = await listHistory(dir);
    expect(archived.length).toBeGreaterThanOrEqual(2);
    expect(fs.statSync(path.join(dir, 'history')).mode & 0o777).toBe(0o700);
    for (const segment of archived) {
      expect(fs.statSync(segment.path).mode & 0o777).toBe(0o600);
      expect(fs.statSync(summaryPath(segment.path)).mode & 0o777).toBe(0o600);
    }
    const first = (await readSummary(summaryPath(archived[0]!.path), archived[0]!.firstSeq))!;
    expect(first).toMatchObject({ firstSeq: 1, lastSeq: 2, drops: [] });
    expect(first.numbers.has(summaryKey(5039367100))).toBe(true);
    expect(first.numbers.has(summaryKey(5039367101))).toBe(false);
    expect(first.chainBefore).toMatchObject({ seq: 0 });
    const reopened = await openDnc({ dataDir: dir, logger: recordingLogger() });
    const { events } = await reopened.history('5039367100');
    expect(events.map(({ seq, op, projId, source }) => ({ seq, op, projId, source }))).toEqual([
      { seq: 1, op: 'add', projId: null, source: 'web' },
      { seq: 2, op: 'remove', projId: 'p', source: 'api' },
    ]);
    await reopened.close();
    expect(await verifyChain(dir, null)).toMatchObject({ ok: true, fromSeq: 0, problem: null });
  });

  it('verify names an archived segment whose record was altered, even with its CRC recomputed', async () => {
    const dnc = await openDnc({ dataDir: dir, logger: recordingLogger() });
    await threeRounds(dnc);
    await dnc.close();
    const [first] = await listHistory(dir);
    const bytes = fs.readFileSync(first!.path);
    const offset = LOG_SEGMENT_HEADER_BYTES;
    const end = offset + LOG_RECORD_HEADER_BYTES + bytes.readUInt32LE(offset);
    const at = bytes.indexOf('web', offset);
    bytes[at] = 'x'.charCodeAt(0);
    bytes.writeUInt32LE(crc32(bytes.subarray(offset + 8, end)), offset + 4);
    fs.writeFileSync(first!.path, bytes);
    const report = await verifyChain(dir, null);
    expect(report.ok).toBe(false);
    expect(report.problem).toContain(`the summary of history/${path.basename((await listHistory(dir))[1]!.path)} stored at seq 2: a record from seq 1 to 2`);
    bytes[offset + LOG_RECORD_HEADER_BYTES + 2]! ^= 1;
    fs.writeFileSync(first!.path, bytes);
    expect((await verifyChain(dir, null)).problem).toContain(`${path.basename(first!.path)} at offset 16, seq 1: record fails its CRC-32 checksum`);
  });

  it('removes archived segments whole once their last record is older than the retention, and warns when it is under 5 years', async () => {
    let now = Date.now();
    const logger = recordingLogger();
    const options = { dataDir: dir, logger, historyRetentionMs: 10 * DAY, clock: () => now };
    const dnc = await openDnc(options);
    await threeRounds(dnc);
    await dnc.add('5039367199');
    await dnc.close();
    const archived = (await listHistory(dir)).length;
    expect(archived).toBeGreaterThanOrEqual(2);
    now += 9 * DAY;
    await (await openDnc(options)).close();
    expect((await listHistory(dir)).length).toBeGreaterThanOrEqual(archived);
    now += 2 * DAY;
    const late = await openDnc(options);
    expect(await listHistory(dir)).toEqual([]);
    // Still on the master list: its add is carried forward; its remove from p (where it never was) expired.
    expect((await late.history('5039367100')).events).toEqual([expect.objectContaining({ seq: 1, op: 'add', list: 'master', source: 'web' })]);
    expect((await late.history('5039367199')).events).toHaveLength(1);
    await late.close();
    const warnings = logger.lines.filter((line) => line.level === 'warn' && line.message.includes('history is kept for 10 days, less than the 5 years'));
    expect(warnings).toHaveLength(3);
    expect((await verifyChain(dir, null)).ok).toBe(true);
  });
});

describe('a failure while archiving', () => {
  it('keeps every segment where recovery finds it, and the next snapshot archives them; nothing is lost from the history', async () => {
    let failRenames = 1;
    const fileSystem: PersistFileSystem = {
      ...nodeFileSystem,
      rename: async (from, to) => {
        if (to.includes(`${path.sep}history${path.sep}`) && failRenames > 0) {
          failRenames--;
          throw errnoError('EIO');
        }
        return nodeFileSystem.rename(from, to);
      },
    };
    const logger = recordingLogger();
    const dnc = await openDnc({ dataDir: dir, logger, fileSystem });
    await dnc.add('5039367100');
    await dnc.snapshot();
    await dnc.add('5039367101');
    // The second snapshot is the first to cover segments: their move fails, the snapshot reports it.
    await expect(dnc.snapshot()).rejects.toMatchObject({ code: 'EIO' });
    expect(await listHistory(dir)).toEqual([]);
    await dnc.add('5039367102');
    await dnc.snapshot();
    await dnc.add('5039367103');
    expect((await listHistory(dir)).length).toBeGreaterThan(0);
    for (let i = 0; i < 4; i++) expect((await dnc.history(String(5039367100 + i))).events, `number ${i}`).toHaveLength(1);
    await dnc.close();
    const reopened = await openDnc({ dataDir: dir, logger: recordingLogger() });
    expect(reopened.count()).toBe(4);
    await reopened.close();
    expect((await verifyChain(dir, null)).ok).toBe(true);
  });
});
