// A bulk change larger than one log record is several records of one commit: after a crash it is
// either all there or not there at all, wherever the log was cut.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LOG_RECORD_HEADER_BYTES, LOG_RECORD_NUMBERS_MAX, LOG_SEGMENT_HEADER_BYTES } from '../../src/constants.js';
import { openDnc, type Dnc } from '../../src/index.js';
import { verifyDataDir } from '../../src/persist/verify.js';

const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
let dirs: string[] = [];

beforeEach(() => {
  dirs = [];
});
afterEach(async () => {
  for (const dir of dirs) await fs.rm(dir, { recursive: true, force: true });
});

async function tempDir(): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'idnc-bulk-commit-'));
  dirs.push(dir);
  return dir;
}

/** 1.2 records' worth of distinct valid numbers, shuffled, with duplicates. */
function bigChange(): Float64Array {
  const count = LOG_RECORD_NUMBERS_MAX + 200_000;
  const numbers = new Float64Array(count + 1000);
  for (let i = 0; i < count; i++) numbers[(i * 7919) % count] = 2_012_000_000 + i * 3;
  for (let i = 0; i < 1000; i++) numbers[count + i] = numbers[i]!;
  return numbers;
}

/** The log segments of a live writer, copied as a crash would leave them (no snapshot, no lock). */
async function crashCopy(from: string): Promise<{ dir: string; segment: string }> {
  const dir = await tempDir();
  const segments = (await fs.readdir(from)).filter((name) => name.startsWith('log-'));
  expect(segments).toHaveLength(1);
  await fs.copyFile(path.join(from, segments[0]!), path.join(dir, segments[0]!));
  return { dir, segment: path.join(dir, segments[0]!) };
}

async function recordEnds(segment: string): Promise<number[]> {
  const bytes = await fs.readFile(segment);
  const ends: number[] = [];
  for (let offset = LOG_SEGMENT_HEADER_BYTES; offset < bytes.length; ) {
    offset += LOG_RECORD_HEADER_BYTES + bytes.readUInt32LE(offset);
    ends.push(offset);
  }
  return ends;
}

describe('a bulk change spanning several log records', () => {
  it('recovers all of it, none of it when cut anywhere inside it, and takes writes after', async () => {
    const source = await tempDir();
    const writer = await openDnc({ dataDir: source, logger: quiet });
    await writer.add('2125551234');
    const result = await writer.addNumbers(bigChange());
    expect(result.distinct).toBe(LOG_RECORD_NUMBERS_MAX + 200_000);
    expect(result.changed).toBe(result.distinct);
    const { dir, segment } = await crashCopy(source);
    await writer.close();

    const ends = await recordEnds(segment);
    expect(ends).toHaveLength(3);
    const whole = await openDnc({ dataDir: dir, logger: quiet, readOnly: true });
    expect(whole.count()).toBe(result.distinct + 1);
    await whole.close();

    for (const cut of [ends[1]!, ends[1]! - 1, ends[1]! + 100, ends[2]! - 1]) {
      const copy = await tempDir();
      await fs.copyFile(segment, path.join(copy, path.basename(segment)));
      await fs.truncate(path.join(copy, path.basename(segment)), cut);
      let dnc: Dnc = await openDnc({ dataDir: copy, logger: quiet });
      expect(dnc.count()).toBe(1);
      expect(dnc.isBlocked('2012000000')).toBe(false);
      await dnc.add('3105550000');
      await dnc.close();
      expect((await fs.stat(path.join(copy, path.basename(segment)))).size).toBeLessThan(ends[2]!);
      dnc = await openDnc({ dataDir: copy, logger: quiet });
      expect(dnc.count()).toBe(2);
      expect(dnc.isBlocked('3105550000')).toBe(true);
      await dnc.close();
    }
  }, 60_000);

  it('idnc verify reports a change cut before its last record as truncated, and startable', async () => {
    const source = await tempDir();
    const writer = await openDnc({ dataDir: source, logger: quiet });
    await writer.add('2125551234');
    await writer.addNumbers(bigChange());
    const { dir, segment } = await crashCopy(source);
    await writer.close();
    const ends = await recordEnds(segment);
    await fs.truncate(segment, ends[2]!);
    expect((await verifyDataDir(dir)).files.map((file) => file.outcome)).toEqual(['ok']);
    await fs.truncate(segment, ends[1]!);
    const report = await verifyDataDir(dir);
    expect(report.startable).toBe(true);
    expect(report.files).toHaveLength(1);
    expect(report.files[0]).toMatchObject({ outcome: 'truncated', badOffset: ends[0] });
    expect(report.files[0]!.detail).toMatch(/no last record; startup drops it/);
  }, 60_000);

  it('refuses an invalid number in a bulk change and changes nothing', async () => {
    const dnc = await openDnc({ dataDir: await tempDir(), logger: quiet });
    await expect(dnc.addNumbers(Float64Array.of(5039367187, 1039367187))).rejects.toMatchObject({ code: 'INVALID_PHONE' });
    expect(dnc.count()).toBe(0);
    await dnc.close();
  });
});
