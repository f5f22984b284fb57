// Finding and dropping lists through the library: `dnc.lists()` pages an organisation's lists in
// projId order (the master list, '', first), `dnc.dropList()` forgets a project list as one durable
// change. The drop must hold everywhere a change holds: in memory, after a restart (from the final
// snapshot, and by replaying the log), in a follower, and in the state digest.

import fs from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LISTS_PAGE_LIMIT_DEFAULT, LISTS_PAGE_LIMIT_MAX } from '../../src/constants.js';
import { Dnc, openDnc, type DurableDnc } from '../../src/index.js';
import { listDataDir } from '../../src/persist/data-dir.js';
import { nodeFileSystem } from '../../src/persist/file-system.js';
import type { LogRecord } from '../../src/persist/record.js';
import { recoverDataDir } from '../../src/persist/recovery.js';
import { scanSegment } from '../../src/persist/segment-scan.js';
import { stateDigest } from '../../src/persist/state-digest.js';
import { DncStore } from '../../src/store/dnc-store.js';
import { makeTempDir, numbers, recordingLogger, removeDir } from '../persist/helpers.js';

let dir: string;
const open: { close(): Promise<void> }[] = [];

beforeEach(async () => {
  dir = await makeTempDir('idnc-lists-');
});
afterEach(async () => {
  for (const dnc of open.splice(0).reverse()) await dnc.close().catch(() => undefined);
  await removeDir(dir);
});

async function writer(): Promise<DurableDnc> {
  const dnc = (await openDnc({ dataDir: dir, logger: recordingLogger() })) as DurableDnc;
  open.push(dnc);
  return dnc;
}

/** Every list of `org`, read page by page with `limit`. */
function allPages(dnc: Dnc, org: string, limit: number): { projId: string; numbers: number }[] {
  const seen: { projId: string; numbers: number }[] = [];
  let after: string | undefined;
  for (let pages = 0; pages < 1000; pages++) {
    const page = dnc.lists({ org, limit, ...(after === undefined ? {} : { after }) });
    expect(page.lists.length).toBeLessThanOrEqual(limit);
    seen.push(...page.lists);
    if (page.next === null) return seen;
    after = page.next;
  }
  throw new Error('paging did not end');
}

describe('dnc.lists', () => {
  it('pages the lists of one organisation by projId, the master list first, with limit and after', async () => {
    const dnc = new Dnc();
    await dnc.add(numbers(2), { org: 'acme' });
    const ids = ['b', 'a', 'c.2', 'c-1', 'Z', 'c_3'];
    for (const [i, projId] of ids.entries()) await dnc.add(numbers(i + 1, 3_125_550_000), { org: 'acme', projId });
    await dnc.add(numbers(1), { org: 'other', projId: 'hidden' });
    const expected = [{ projId: '', numbers: 2 }, ...[...ids].sort().map((projId) => ({ projId, numbers: ids.indexOf(projId) + 1 }))];
    expect(dnc.lists({ org: 'acme' })).toEqual({ lists: expected, next: null });
    for (const limit of [1, 2, 3, 7, 8]) expect(allPages(dnc, 'acme', limit)).toEqual(expected);
    expect(dnc.lists({ org: 'acme', limit: 2 })).toEqual({ lists: expected.slice(0, 2), next: 'Z' });
    // '' is the master list's projId: after it come the project lists alone.
    expect(dnc.lists({ org: 'acme', after: '' }).lists).toEqual(expected.slice(1));
    expect(dnc.lists({ org: 'acme', after: 'b' }).lists.map((list) => list.projId)).toEqual(['c-1', 'c.2', 'c_3']);
    expect(dnc.lists({ org: 'acme', after: 'bb' }).lists.map((list) => list.projId)).toEqual(['c-1', 'c.2', 'c_3']);
    expect(dnc.lists({ org: 'acme', after: 'zz' })).toEqual({ lists: [], next: null });
    expect(dnc.lists({ org: 'nobody' })).toEqual({ lists: [], next: null });
    expect(dnc.lists()).toEqual({ lists: [], next: null });
  });

  it('shows only lists holding numbers: a list emptied by removes is gone, the master list too', async () => {
    const dnc = new Dnc();
    await dnc.add(numbers(3), { projId: 'p' });
    await dnc.add(numbers(1), { projId: 'q' });
    await dnc.remove(numbers(3), { projId: 'p' });
    await dnc.add(numbers(1));
    await dnc.remove(numbers(1));
    expect(dnc.lists()).toEqual({ lists: [{ projId: 'q', numbers: 1 }], next: null });
    expect(dnc.stats().organisations).toEqual([{ org: 'default', lists: 1, numbers: 1 }]);
    expect(dnc.count({ projId: 'p' })).toBe(0);
    expect(dnc.isBlocked(numbers(1)[0]!, { projId: 'p' })).toBe(false);
  });

  it('pages of many lists cross the blocks of the sorted index in order', async () => {
    const dnc = new Dnc();
    const ids = Array.from({ length: 2500 }, (_, i) => `p${(i * 7919) % 2500}`);
    for (const projId of ids) await dnc.add(numbers(1), { projId });
    const sorted = [...ids].sort();
    expect(allPages(dnc, 'default', LISTS_PAGE_LIMIT_MAX).map((list) => list.projId)).toEqual(sorted);
    expect(allPages(dnc, 'default', 333).map((list) => list.projId)).toEqual(sorted);
    expect(dnc.lists().lists).toHaveLength(LISTS_PAGE_LIMIT_DEFAULT);
    for (const projId of sorted.filter((_, i) => i % 3 === 0)) await dnc.dropList({ projId });
    expect(allPages(dnc, 'default', 500).map((list) => list.projId)).toEqual(sorted.filter((_, i) => i % 3 !== 0));
  });

  it.each([0, -1, 1.5, LISTS_PAGE_LIMIT_MAX + 1, Number.NaN])('refuses limit %s with INVALID_PARAMETER', (limit) => {
    expect(() => new Dnc().lists({ limit })).toThrow(expect.objectContaining({ code: 'INVALID_PARAMETER', message: expect.stringContaining('limit') }));
  });

  it('refuses an invalid after or org with INVALID_PARAMETER', () => {
    expect(() => new Dnc().lists({ after: 'no spaces' })).toThrow(expect.objectContaining({ code: 'INVALID_PARAMETER' }));
    expect(() => new Dnc().lists({ org: 'a/b' })).toThrow(expect.objectContaining({ code: 'INVALID_PARAMETER' }));
  });
});

describe('dnc.dropList in memory', () => {
  it('forgets the list: its numbers no longer block, its count is 0, and the counts follow', async () => {
    const dnc = new Dnc();
    await dnc.add(numbers(2));
    await dnc.add(numbers(5, 3_125_550_000), { projId: 'spring' });
    await dnc.add(numbers(1, 4_155_550_000), { projId: 'summer' });
    expect(dnc.isBlocked(3_125_550_000, { projId: 'spring' })).toBe(true);
    expect(await dnc.dropList({ projId: 'spring' })).toEqual({ numbers: 5, seq: 0 });
    expect(dnc.isBlocked(3_125_550_000, { projId: 'spring' })).toBe(false);
    expect(dnc.isBlocked(numbers(1)[0]!, { projId: 'spring' })).toBe(true);
    expect(dnc.count({ projId: 'spring' })).toBe(0);
    expect(dnc.lists().lists.map((list) => list.projId)).toEqual(['', 'summer']);
    expect(dnc.stats().organisations).toEqual([{ org: 'default', lists: 2, numbers: 3 }]);
    // A list added again after its drop starts empty.
    await dnc.add(numbers(1, 5_035_550_000), { projId: 'spring' });
    expect(dnc.count({ projId: 'spring' })).toBe(1);
  });

  it('refuses the master list (INVALID_PARAMETER) and a list that does not exist (LIST_NOT_FOUND)', async () => {
    const dnc = new Dnc();
    await dnc.add(numbers(2));
    await dnc.add(numbers(1), { org: 'other', projId: 'p' });
    await expect(dnc.dropList({ projId: '' })).rejects.toMatchObject({ code: 'INVALID_PARAMETER', message: expect.stringContaining('master list cannot be dropped') });
    await expect(dnc.dropList({} as { projId: string })).rejects.toMatchObject({ code: 'INVALID_PARAMETER' });
    await expect(dnc.dropList({ projId: 'p' })).rejects.toMatchObject({ code: 'LIST_NOT_FOUND' });
    await expect(dnc.dropList({ org: 'nobody', projId: 'p' })).rejects.toMatchObject({ code: 'LIST_NOT_FOUND' });
    await expect(dnc.dropList({ projId: 'bad id' })).rejects.toMatchObject({ code: 'INVALID_PARAMETER' });
    expect(dnc.count()).toBe(2);
    expect(dnc.count({ org: 'other', projId: 'p' })).toBe(1);
  });
});

describe('dnc.dropList, durable', () => {
  it('is one log record: the drop survives a restart from the final snapshot, taken after the drop', async () => {
    const first = await writer();
    await first.add(numbers(3), { projId: 'keep' });
    await first.add(numbers(4, 3_125_550_000), { projId: 'gone' });
    const dropped = await first.dropList({ projId: 'gone', keyId: 'k1' });
    expect(dropped).toEqual({ numbers: 4, seq: 3 });
    expect(first.lastSeq).toBe(3);
    const digest = first.digest();
    const segment = (await listDataDir(dir)).segments.at(-1)!;
    const records: LogRecord[] = [];
    scanSegment(fs.readFileSync(segment.path), segment.firstSeq, (record) => records.push(record));
    expect(records.map((record) => record.op)).toEqual(['add', 'add', 'drop']);
    expect(records[2]).toMatchObject({ seq: 3, op: 'drop', org: 'default', projId: 'gone', keyId: 'k1', numbers: new Float64Array(0) });
    await first.close();
    open.length = 0;
    expect((await listDataDir(dir)).snapshots[0]!.lastSeq).toBe(3);
    const again = await writer();
    expect(again.digest()).toBe(digest);
    expect(again.count({ projId: 'gone' })).toBe(0);
    expect(again.lists().lists).toEqual([{ projId: 'keep', numbers: 3 }]);
    expect(again.stats().organisations).toEqual([{ org: 'default', lists: 1, numbers: 3 }]);
    await expect(again.dropList({ projId: 'gone' })).rejects.toMatchObject({ code: 'LIST_NOT_FOUND' });
  });

  it('a replay of the log applies the drop in log order, between the adds around it', async () => {
    const dnc = await writer();
    await dnc.add(numbers(2, 3_125_550_000), { projId: 'p' });
    await dnc.snapshot();
    await dnc.add(numbers(2), { projId: 'p' });
    await dnc.dropList({ projId: 'p' });
    await dnc.add(numbers(1, 4_155_550_000), { projId: 'p' });
    const replayed = new DncStore();
    const result = await recoverDataDir(replayed, { dataDir: dir, fileSystem: nodeFileSystem, logger: recordingLogger(), mode: 'read' });
    expect(result).toMatchObject({ snapshotSeq: 1, replayed: 3, lastSeq: 4 });
    expect(stateDigest(replayed)).toBe(dnc.digest());
    expect(replayed.list({ org: 'default', projId: 'p' })?.size).toBe(1);
    expect(replayed.organisationCounts()).toEqual([{ org: 'default', lists: 1, numbers: 1 }]);
    // A drop replayed over a state without the list (a snapshot taken after it) changes nothing.
    const fromScratch = new DncStore();
    expect(fromScratch.dropList({ org: 'default', projId: 'p' })).toBe(0);
  });

  it('a follower shows the drop once it has applied its seq, and loads it from the log when it opens later', async () => {
    const dnc = await writer();
    await dnc.add(numbers(2, 3_125_550_000), { projId: 'p' });
    await dnc.add(numbers(1), { projId: 'q' });
    const follower = await openDnc({ dataDir: dir, readOnly: true, logger: recordingLogger() });
    open.push(follower);
    expect(follower.count({ projId: 'p' })).toBe(2);
    const { seq } = await dnc.dropList({ projId: 'p' });
    await follower.waitFor(seq, 5000);
    expect(follower.count({ projId: 'p' })).toBe(0);
    expect(follower.isBlocked(3_125_550_000, { projId: 'p' })).toBe(false);
    expect(follower.lists().lists).toEqual([{ projId: 'q', numbers: 1 }]);
    expect(follower.digest()).toBe(dnc.digest());
    await expect(follower.dropList({ projId: 'p' })).rejects.toMatchObject({ code: 'LIST_NOT_FOUND' });
    await expect(follower.dropList({ projId: 'q' })).rejects.toMatchObject({ code: 'READ_ONLY' });
    const late = await openDnc({ dataDir: dir, readOnly: true, logger: recordingLogger() });
    open.push(late);
    expect(late.lists().lists).toEqual([{ projId: 'q', numbers: 1 }]);
    expect(late.stats().organisations).toEqual([{ org: 'default', lists: 1, numbers: 1 }]);
  });
});
