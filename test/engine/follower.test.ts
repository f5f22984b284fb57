// The read-only follower as a library (openDnc({ dataDir, readOnly: true })) beside a writer in the
// same process: it follows adds and removes, waits for a seq, keeps up across snapshots and segment
// removal, treats an unfinished last record as not yet written, stops at a corrupt one (stale) and
// never writes to the directory. Tests that write records by hand also write the durable-seq mark,
// as the writer does once it acknowledges them: a follower applies nothing above it.

import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { openDnc, type DncFollower, type DurableDnc, type DurableDncOptions } from '../../src/index.js';
import { listDataDir } from '../../src/persist/data-dir.js';
import { durableMarkPath, DurableMarkWriter, encodeMark, readDurableMark } from '../../src/persist/durable-mark.js';
import { nodeFileSystem } from '../../src/persist/file-system.js';
import { encodeRecord } from '../../src/persist/record.js';
import { scanSegment } from '../../src/persist/segment-scan.js';
import { makeTempDir, numbers, recordingLogger, removeDir } from '../persist/helpers.js';
import { checkedCurrent } from './follower-checks.js';

let dir: string;
const open: { close(): Promise<void> }[] = [];

beforeEach(async () => {
  dir = await makeTempDir('idnc-follower-');
});
afterEach(async () => {
  for (const dnc of open.splice(0).reverse()) await dnc.close().catch(() => undefined);
  await removeDir(dir);
});

async function writer(options: Partial<Omit<DurableDncOptions, 'dataDir' | 'readOnly'>> = {}): Promise<DurableDnc> {
  const dnc = await openDnc({ dataDir: dir, logger: recordingLogger(), ...options });
  open.push(dnc);
  return dnc;
}

async function follower(options: Record<string, unknown> = {}): Promise<DncFollower> {
  const dnc = await openDnc({ dataDir: dir, readOnly: true, logger: recordingLogger(), ...options });
  open.push(dnc);
  return dnc;
}

/** What the writer does once it has acknowledged up to `seq`: rewrite the mark in place. */
async function acknowledge(seq: number): Promise<void> {
  const read = await readDurableMark(dir);
  if (read.kind !== 'ok') throw new Error(`the durable-seq mark is ${read.kind}`);
  const fd = fs.openSync(durableMarkPath(dir), 'r+');
  fs.writeSync(fd, encodeMark({ ...read.mark, seq }), 0, undefined, 0);
  fs.closeSync(fd);
}

async function newestSegment(): Promise<string> {
  const { segments } = await listDataDir(dir);
  return segments.at(-1)!.path;
}

describe('read-only follower', () => {
  it('follows adds and removes, and waitFor resolves once a seq is applied', async () => {
    const w = await writer();
    await w.add(numbers(3));
    const f = await follower();
    expect(f.count()).toBe(3);
    expect(f.lastSeq).toBe(w.lastSeq);

    const added = await w.add('3125550001', { projId: 'p1' });
    await f.waitFor(added.seq, 2000);
    expect(f.lastSeq).toBeGreaterThanOrEqual(added.seq);
    expect(f.isBlocked('3125550001', { projId: 'p1' })).toBe(true);
    expect(f.isBlocked('3125550001')).toBe(false);
    expect(f.status('3125550001', { projId: 'p1' })[0]).toMatchObject({ onList: true, list: 'project' });

    const removed = await w.remove(numbers(1));
    await f.waitFor(removed.seq, 2000);
    expect(f.count()).toBe(2);
    expect(f.scrub(numbers(3)).blocked).toEqual(numbers(3).slice(1));
    expect(f.digest()).toBe(w.digest());
    await checkedCurrent(f);
  });

  it('refuses writes with READ_ONLY and rejects bad waits with typed errors', async () => {
    const w = await writer();
    const { seq } = await w.add(numbers(1));
    const f = await follower();
    await expect(f.add(numbers(1, 3_125_550_000))).rejects.toMatchObject({ code: 'READ_ONLY' });
    await expect(f.waitFor(seq + 10, 50)).rejects.toMatchObject({ code: 'WAIT_TIMEOUT' });
    await expect(f.waitFor(-1, 50)).rejects.toMatchObject({ code: 'INVALID_PARAMETER' });
    await expect(f.waitFor(1.5, 50)).rejects.toMatchObject({ code: 'INVALID_PARAMETER' });
    await expect(f.waitFor(1, Number.NaN)).rejects.toMatchObject({ code: 'INVALID_PARAMETER' });
    await expect(f.waitFor(seq, 0)).resolves.toBeUndefined();
    // The writer answers the same calls, so code can treat both alike.
    await expect(w.waitFor(seq, 0)).resolves.toBeUndefined();
    const pending = w.waitFor(seq + 1, 2000);
    await w.add(numbers(1, 4_125_550_000));
    await expect(pending).resolves.toBeUndefined();
    await f.close();
    await expect(f.waitFor(seq, 10)).rejects.toMatchObject({ code: 'CLOSED' });
  });

  it('refuses a data directory that does not exist, and an invalid staleAfterMs', async () => {
    await expect(openDnc({ dataDir: path.join(dir, 'missing'), readOnly: true })).rejects.toMatchObject({ code: 'INVALID_PARAMETER' });
    await expect(follower({ staleAfterMs: -5 })).rejects.toMatchObject({ code: 'INVALID_PARAMETER' });
  });

  it('keeps up across snapshots, segment rotation and removal', async () => {
    const w = await writer({ snapshotLogBytes: 300, segmentBytesMax: 200 });
    const f = await follower();
    let last = 0;
    for (let i = 0; i < 60; i++) {
      const phones = numbers(5, 2_125_550_000 + i * 10);
      last = (await (i % 7 === 6 ? w.remove(phones.slice(0, 2)) : w.add(phones))).seq;
    }
    await w.snapshot();
    const { segments, snapshots } = await listDataDir(dir);
    expect(snapshots.length).toBe(2);
    expect(segments[0]!.firstSeq).toBeGreaterThan(1);
    await f.waitFor(last, 5000);
    expect(f.digest()).toBe(w.digest());
    expect(f.count()).toBe(w.count());
  });

  it('waits at an unfinished last record, applies the record a restarted writer writes there once', async () => {
    let w = await writer();
    const first = await w.add(numbers(2));
    const f = await follower();
    await w.close();
    // A writer killed mid-append: the first half of the next record, whose number never becomes visible.
    const torn = encodeRecord(first.seq + 1, { op: 'add', org: 'default', projId: '', numbers: new Float64Array([9_195_550_000]), ts: Date.now(), keyId: null });
    fs.appendFileSync(await newestSegment(), torn.subarray(0, 20));
    await checkedCurrent(f);
    expect(f.lastSeq).toBe(first.seq);
    expect(f.isBlocked('9195550000')).toBe(false);

    w = await writer();
    const next = await w.add('6175550123');
    expect(next.seq).toBe(first.seq + 1);
    await f.waitFor(next.seq, 3000);
    expect(f.isBlocked('6175550123')).toBe(true);
    expect(f.isBlocked('9195550000')).toBe(false);
    expect(f.count()).toBe(3);
    expect(f.digest()).toBe(w.digest());
  });

  it('applies a change written as several records only once its last record is there', async () => {
    const w = await writer();
    const first = await w.add(numbers(1));
    await w.close();
    const segment = await newestSegment();
    const f = await follower({ staleAfterMs: 100, pollIntervalMs: 20 });
    const part = (seq: number, number: number, more: boolean): Buffer =>
      encodeRecord(seq, { op: 'add', org: 'default', projId: '', numbers: new Float64Array([number]), ts: Date.now(), keyId: null, ...(more ? { more } : {}) });
    fs.appendFileSync(segment, Buffer.concat([part(first.seq + 1, 3_105_550_010, true), part(first.seq + 2, 3_105_550_011, true)]));
    // Records past the mark that stay there make the follower current only as of when it first saw
    // them, so it goes stale: the event that says it has read them.
    await vi.waitFor(() => expect(f.stale).toBe(true), { timeout: 5000, interval: 5 });
    expect(f.lastSeq).toBe(first.seq);
    expect(f.isBlocked('3105550010')).toBe(false);
    await acknowledge(first.seq);
    fs.appendFileSync(segment, part(first.seq + 3, 3_105_550_012, false));
    await acknowledge(first.seq + 3);
    await f.waitFor(first.seq + 3, 3000);
    expect(f.scrub(['3105550010', '3105550011', '3105550012']).blocked).toHaveLength(3);
  });

  it('stops at a corrupt record with valid ones after it and goes stale, then fresh once it is repaired', async () => {
    const w = await writer();
    const first = await w.add(numbers(1));
    await w.close();
    const segment = await newestSegment();
    const goodSize = fs.statSync(segment).size;
    const f = await follower({ staleAfterMs: 100, pollIntervalMs: 20 });
    const events: string[] = [];
    f.on('stale', () => events.push('stale')).on('fresh', () => events.push('fresh'));
    const record = (seq: number, number: number): Buffer =>
      encodeRecord(seq, { op: 'add', org: 'default', projId: '', numbers: new Float64Array([number]), ts: Date.now(), keyId: null });
    const bad = record(first.seq + 1, 3_105_550_000);
    bad[bad.length - 1]! ^= 0xff;
    fs.appendFileSync(segment, Buffer.concat([bad, record(first.seq + 2, 3_105_550_001)]));
    await acknowledge(first.seq + 2);
    await vi.waitFor(() => expect(events).toContain('stale'), { timeout: 5000, interval: 5 });
    expect(f.lastSeq).toBe(first.seq);
    expect(f.isBlocked('3105550001')).toBe(false);
    expect(f.lagMs).toBeGreaterThan(100);

    fs.truncateSync(segment, goodSize);
    fs.appendFileSync(segment, record(first.seq + 1, 3_105_550_002));
    // As `idnc repair` (or a restarted writer) does: a new epoch starting at what the log now holds.
    await (await DurableMarkWriter.open(nodeFileSystem, dir, first.seq + 1)).close(first.seq + 1);
    await vi.waitFor(() => expect(events).toContain('fresh'), { timeout: 5000, interval: 5 });
    expect(events).toEqual(['stale', 'fresh']);
    expect(f.isBlocked('3105550002')).toBe(true);
    expect(f.isBlocked('3105550000')).toBe(false);
  });

  it('follows by polling alone (watch: false) and reports each applied seq', async () => {
    const w = await writer();
    const f = await follower({ watch: false, pollIntervalMs: 30 });
    const applied: number[] = [];
    f.on('applied', (seq) => applied.push(seq));
    let seq = 0;
    for (let i = 0; i < 5; i++) seq = (await w.add(numbers(1, 2_135_550_000 + i))).seq;
    await f.waitFor(seq, 3000);
    expect(f.count()).toBe(5);
    expect(applied.at(-1)).toBe(seq);
    expect(applied).toEqual([...applied].sort((a, b) => a - b));
  });

  it('follows a directory from before its writer ever started', async () => {
    const f = await follower();
    expect(f.lastSeq).toBe(0);
    expect(f.count()).toBe(0);
    const w = await writer();
    const { seq } = await w.add(numbers(2));
    await f.waitFor(seq, 3000);
    expect(f.count()).toBe(2);
  });

  it('reloads when the log is cut below what it applied (idnc repair), then follows the new records', async () => {
    let w = await writer();
    await w.add(numbers(1));
    const second = await w.add(numbers(1, 3_125_550_000));
    const f = await follower();
    expect(f.count()).toBe(2);
    await w.close();
    const { segments, snapshots } = await listDataDir(dir);
    for (const snapshot of snapshots) fs.rmSync(snapshot.path);
    // Cut the last record, as `idnc repair` would after finding it bad.
    const segment = segments.at(-1)!.path;
    let lastRecordOffset = -1;
    scanSegment(fs.readFileSync(segment), segments.at(-1)!.firstSeq, (_record, offset) => (lastRecordOffset = offset));
    fs.truncateSync(segment, lastRecordOffset);
    await vi.waitFor(() => expect(f.count()).toBe(1), { timeout: 5000, interval: 5 });
    expect(f.isBlocked('3125550000')).toBe(false);
    expect(f.lastSeq).toBe(second.seq - 1);

    w = await writer();
    const next = await w.add('4125550000');
    expect(next.seq).toBe(second.seq);
    await vi.waitFor(() => expect(f.isBlocked('4125550000')).toBe(true), { timeout: 5000, interval: 5 });
    expect(f.digest()).toBe(w.digest());
  });

  it('never writes to the data directory and takes no lock', async () => {
    const w = await writer();
    await w.add(numbers(4));
    await w.close();
    const before = fs.readdirSync(dir).sort().map((name) => [name, fs.statSync(path.join(dir, name)).mtimeMs, fs.statSync(path.join(dir, name)).size]);
    // A torn tail is left for the writer to cut: the follower must not cut it.
    fs.appendFileSync(await newestSegment(), Buffer.from([1, 2, 3]));
    const withTail = fs.readdirSync(dir).sort().map((name) => [name, fs.statSync(path.join(dir, name)).mtimeMs, fs.statSync(path.join(dir, name)).size]);
    const f = await follower();
    expect(f.count()).toBe(4);
    await checkedCurrent(f);
    const lock = await nodeFileSystem.tryLockExclusive(path.join(dir, 'writer.lock'));
    expect(lock).not.toBeNull();
    await lock!.release();
    await f.close();
    const after = fs.readdirSync(dir).sort().map((name) => [name, fs.statSync(path.join(dir, name)).mtimeMs, fs.statSync(path.join(dir, name)).size]);
    expect(after).toEqual(withTail);
    expect(before.length).toBeGreaterThan(0);
  });
});
