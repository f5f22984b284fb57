// Recovery against damaged logs built inside the test: a log cut at every byte offset of its last
// records recovers exactly the complete prefix (and a later write survives the next restart); bit
// flips in records and snapshots are detected, never applied or skipped silently. A long tail built
// to make the search for valid records after the damage work hard is judged in linear time (first
// through the built CLI with a timeout, so a slow search fails the test instead of hanging it).

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DataCorruptError, Dnc, openDnc } from '../../src/index.js';
import { LOG_RECORD_HEADER_BYTES, LOG_SEGMENT_HEADER_BYTES } from '../../src/constants.js';
import { encodeRecord } from '../../src/persist/record.js';
import type { VerifyReport } from '../../src/persist/verify.js';
import { makeTempDir, numbers, recordingLogger, removeDir } from './helpers.js';
import { longCandidates } from './hostile-tails.js';

const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
let dir: string;
let work: string;
beforeEach(async () => {
  dir = await makeTempDir();
  work = await makeTempDir();
});
afterEach(async () => {
  await removeDir(dir);
  await removeDir(work);
});

const CHANGES: { op: 'add' | 'remove'; phones: string[]; projId?: string }[] = [
  { op: 'add', phones: numbers(4) },
  { op: 'add', phones: numbers(3, 3_125_550_000), projId: 'p1' },
  { op: 'remove', phones: numbers(2) },
  { op: 'add', phones: numbers(2, 4_155_550_000) },
  { op: 'remove', phones: numbers(1, 3_125_550_000), projId: 'p1' },
  { op: 'add', phones: numbers(1, 5_105_550_000) },
];

/** Writes CHANGES through a durable engine and leaves without closing (no snapshot). */
async function writeLog(): Promise<{ segment: string; recordEnds: number[] }> {
  const dnc = await openDnc({ dataDir: dir, logger: recordingLogger() });
  for (const change of CHANGES) await dnc[change.op](change.phones, { projId: change.projId });
  const segment = path.join(dir, fs.readdirSync(dir).find((name) => name.endsWith('.idnclog'))!);
  const bytes = fs.readFileSync(segment);
  const recordEnds: number[] = [];
  for (let offset = LOG_SEGMENT_HEADER_BYTES; offset < bytes.length;) {
    offset += LOG_RECORD_HEADER_BYTES + bytes.readUInt32LE(offset);
    recordEnds.push(offset);
  }
  fs.rmSync(path.join(dir, 'writer.lock'));
  return { segment, recordEnds };
}

/** The digest of an in-memory engine after the first `count` changes. */
async function prefixDigest(count: number): Promise<string> {
  const dnc = new Dnc();
  for (const change of CHANGES.slice(0, count)) await dnc[change.op](change.phones, { projId: change.projId });
  return dnc.digest();
}

function copyTo(target: string, segmentName: string, bytes: Buffer): void {
  fs.rmSync(target, { recursive: true, force: true });
  fs.mkdirSync(target);
  fs.writeFileSync(path.join(target, segmentName), bytes);
}

describe('torn tail', () => {
  it('recovers exactly the complete prefix at every cut offset of the last records', async () => {
    const { segment, recordEnds } = await writeLog();
    const full = fs.readFileSync(segment);
    const digests = await Promise.all(CHANGES.map((_, i) => prefixDigest(i + 1)));
    digests.unshift(await prefixDigest(0));
    const from = recordEnds[recordEnds.length - 4]!;
    for (let cut = from; cut <= full.length; cut++) {
      const target = path.join(work, 'd');
      copyTo(target, path.basename(segment), full.subarray(0, cut));
      const complete = recordEnds.filter((end) => end <= cut).length;
      const logger = recordingLogger();
      const dnc = await openDnc({ dataDir: target, logger });
      expect(dnc.digest(), `cut at ${cut}`).toBe(digests[complete]);
      expect(dnc.lastSeq).toBe(complete);
      const dropped = cut - (recordEnds[complete - 1] ?? LOG_SEGMENT_HEADER_BYTES);
      if (dropped > 0) expect(logger.text('warn')).toContain(`dropped ${dropped} bytes`);
      else expect(logger.text('warn')).toBe('');
      const later = await dnc.add('6175550123');
      expect(later.seq).toBe(complete + 1);
      fs.rmSync(path.join(target, 'writer.lock'));
      const again = await openDnc({ dataDir: target, logger: recordingLogger() });
      expect(again.isBlocked('6175550123'), `cut at ${cut}`).toBe(true);
      expect(again.lastSeq).toBe(complete + 1);
      await again.close();
      await dnc.close();
    }
  }, 60_000);

  it('recovers an empty data directory whose first segment header was torn', async () => {
    const { segment } = await writeLog();
    for (const cut of [0, 5, LOG_SEGMENT_HEADER_BYTES]) {
      const target = path.join(work, 'h');
      copyTo(target, path.basename(segment), fs.readFileSync(segment).subarray(0, cut));
      const dnc = await openDnc({ dataDir: target, logger: recordingLogger() });
      expect(dnc.count()).toBe(0);
      expect((await dnc.add('6175550123')).seq).toBe(1);
      await dnc.close();
    }
  });
});

describe('a long damaged tail', () => {
  /** `idnc verify --json` by the built CLI, killed after a timeout no linear search comes near. */
  function verifyCli(dataDir: string): { status: number | null; report: VerifyReport | null } {
    const result = spawnSync(process.execPath, [CLI, 'verify', '--json', '--data-dir', dataDir], { encoding: 'utf8', timeout: 30_000 });
    return { status: result.status, report: result.status === null ? null : (JSON.parse(result.stdout) as VerifyReport) };
  }

  it('is judged in linear time: 8 MiB of long plausible frames are cut, or refused when a valid record follows them', async () => {
    const { segment } = await writeLog();
    const name = path.basename(segment);
    const log = fs.readFileSync(segment);
    const hostile = longCandidates(8 * 1024 * 1024);
    const target = path.join(work, 'long');
    copyTo(target, name, Buffer.concat([log, hostile]));
    const torn = verifyCli(target);
    expect(torn.status, 'idnc verify finished').toBe(0);
    expect(torn.report).toMatchObject({ startable: true, lastSeq: CHANGES.length, files: [{ file: name, outcome: 'truncated', badOffset: log.length }] });
    const logger = recordingLogger();
    const dnc = await openDnc({ dataDir: target, logger });
    expect(dnc.lastSeq).toBe(CHANGES.length);
    expect(dnc.digest()).toBe(await prefixDigest(CHANGES.length));
    expect(logger.text('warn')).toContain(`dropped ${hostile.length} bytes`);
    await dnc.close();
    expect(fs.statSync(path.join(target, name)).size).toBe(log.length);

    const next = encodeRecord(CHANGES.length + 1, { op: 'add', org: 'default', projId: '', numbers: Float64Array.of(6_175_550_123), ts: 0, keyId: null });
    copyTo(target, name, Buffer.concat([log, hostile, next]));
    const corrupt = verifyCli(target);
    expect(corrupt.status, 'idnc verify finished').toBe(1);
    expect(corrupt.report).toMatchObject({ startable: false, files: [{ file: name, outcome: 'corrupt', badOffset: log.length }] });
    const failure = openDnc({ dataDir: target, logger: recordingLogger() });
    await expect(failure).rejects.toMatchObject({ code: 'DATA_CORRUPT' });
    await expect(failure).rejects.toThrow(`at offset ${log.length} `);
  }, 90_000);
});

describe('bit flips', () => {
  it('refuses to start on a flipped bit in any record followed by good ones, naming file, offset and seq', async () => {
    const { segment, recordEnds } = await writeLog();
    const full = fs.readFileSync(segment);
    const starts = [LOG_SEGMENT_HEADER_BYTES, ...recordEnds.slice(0, -1)];
    for (let record = 0; record < starts.length - 1; record++) {
      const start = starts[record]!;
      const end = recordEnds[record]!;
      for (let offset = start; offset < end; offset += Math.max(1, Math.floor((end - start) / 9))) {
        const flipped = Buffer.from(full);
        flipped[offset]! ^= 1 << (offset % 8);
        const target = path.join(work, 'f');
        copyTo(target, path.basename(segment), flipped);
        const failure = openDnc({ dataDir: target, logger: recordingLogger() });
        await expect(failure, `flip at ${offset}`).rejects.toMatchObject({ code: 'DATA_CORRUPT' });
        await expect(failure).rejects.toBeInstanceOf(DataCorruptError);
        await expect(failure).rejects.toThrow(new RegExp(`${path.basename(segment)} in .* at offset ${start} .*idnc verify.*idnc repair --yes`, 's'));
        expect(fs.readFileSync(path.join(target, path.basename(segment))).equals(flipped)).toBe(true);
      }
    }
  }, 30_000);

  it('cuts a flipped last record loudly as a torn tail (it cannot be told from a torn write)', async () => {
    const { segment, recordEnds } = await writeLog();
    const flipped = fs.readFileSync(segment);
    flipped[recordEnds[recordEnds.length - 2]! + 20]! ^= 0x10;
    const target = path.join(work, 'l');
    copyTo(target, path.basename(segment), flipped);
    const logger = recordingLogger();
    const dnc = await openDnc({ dataDir: target, logger });
    expect(dnc.digest()).toBe(await prefixDigest(CHANGES.length - 1));
    expect(logger.text('warn')).toMatch(/torn log tail cut: dropped \d+ bytes/);
    await dnc.close();
  });

  it('detects a flipped bit anywhere in a snapshot and falls back to the older one, or refuses', async () => {
    const dnc = await openDnc({ dataDir: dir, logger: recordingLogger() });
    await dnc.add(numbers(30));
    await dnc.snapshot();
    await dnc.add(numbers(30, 3_125_550_000), { projId: 'p1' });
    await dnc.close();
    const digest = await (async () => {
      const d = await openDnc({ dataDir: dir, logger: recordingLogger() });
      const value = d.digest();
      await d.close();
      return value;
    })();
    const names = fs.readdirSync(dir);
    const snapshots = names.filter((name) => name.endsWith('.idncsnap')).sort();
    expect(snapshots).toHaveLength(2);
    const newest = fs.readFileSync(path.join(dir, snapshots[1]!));
    for (let offset = 0; offset < newest.length; offset += Math.max(1, Math.floor(newest.length / 25))) {
      const target = path.join(work, 's');
      fs.rmSync(target, { recursive: true, force: true });
      fs.cpSync(dir, target, { recursive: true });
      const flipped = Buffer.from(newest);
      flipped[offset]! ^= 0x04;
      fs.writeFileSync(path.join(target, snapshots[1]!), flipped);
      const logger = recordingLogger();
      const recovered = await openDnc({ dataDir: target, logger });
      expect(recovered.digest(), `flip at ${offset}`).toBe(digest);
      expect(logger.text('warn')).toContain(`snapshot ${snapshots[1]} is`);
      await recovered.close();
      // Without the older snapshot, the same damage refuses to start.
      const alone = path.join(work, 'a');
      fs.rmSync(alone, { recursive: true, force: true });
      fs.cpSync(target, alone, { recursive: true });
      for (const name of fs.readdirSync(alone)) if (name.endsWith('.idncsnap')) fs.rmSync(path.join(alone, name));
      fs.writeFileSync(path.join(alone, snapshots[1]!), flipped);
      await expect(openDnc({ dataDir: alone, logger: recordingLogger() })).rejects.toMatchObject({ code: 'DATA_CORRUPT' });
    }
  }, 30_000);
});
