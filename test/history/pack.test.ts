// Packs of archived segments: the closed segments of each UTC day merged into one file with an
// index. History and statusAt answer as the model says before packing (the layout an older idnc
// left: loose segments and summaries), while packing goes on, after it and after restarts; a failure
// or a crash at any step of a packing pass loses and doubles nothing, and the next pass finishes it;
// an import is indexed by ranges (its pack costs its log bytes and a few bytes a record); verify
// names a pack's damaged record, index, or the range of seqs a changed record must be in.

import fs from 'node:fs';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { HISTORY_PACK_PASS_PACKS_MAX, LOG_RECORD_HEADER_BYTES, LOG_RECORD_NUMBERS_MAX, LOG_SEGMENT_HEADER_BYTES } from '../../src/constants.js';
import { historyDir, packHistory, readHistoryListing, sweepHistory } from '../../src/history/archive.js';
import { buildEvidence } from '../../src/history/evidence.js';
import { PACK_HEADER_BYTES, readPackIndex } from '../../src/history/pack.js';
import { HistoryReader } from '../../src/history/query.js';
import { verifyChain } from '../../src/history/verify-chain.js';
import { openDnc } from '../../src/open.js';
import { nodeFileSystem, type PersistFileSystem } from '../../src/persist/file-system.js';
import { errnoError, makeTempDir, removeDir } from '../persist/helpers.js';
import { driveChanges, expectModelAnswers, NUMBERS, ORGS, quietLogger, START } from './history-model.js';

const DAY = 86_400_000;
const STEPS_MS = [0, 1, 1000, 60_000, 3_600_000, 6 * 3_600_000, DAY];
let dir: string;
beforeEach(async () => {
  dir = await makeTempDir('idnc-history-pack-');
  vi.useFakeTimers({ toFake: ['Date'] });
});
afterEach(async () => {
  vi.useRealTimers();
  await removeDir(dir);
});

async function expectAllPacked(dataDir: string): Promise<void> {
  const listing = await readHistoryListing(dataDir);
  expect(listing.packs.length).toBeGreaterThan(0);
  expect({ loose: listing.loose, covered: listing.covered, temporaries: listing.names.filter((name) => name.endsWith('.tmp')) }).toEqual({ loose: [], covered: [], temporaries: [] });
}

describe('history against the model, packed', () => {
  // Even seeds pack each day as snapshots archive it; odd seeds keep the old layout until a late open packs it all.
  for (const seed of [1, 2]) {
    it(`seed ${seed}`, async () => {
      const packAsYouGo = seed % 2 === 0;
      const open = (clock?: () => number) => openDnc({ dataDir: dir, logger: quietLogger, segmentBytesMax: 400, snapshotIntervalMs: 3_600_000, ...(clock === undefined ? {} : { clock }) });
      const { dnc, run, next } = await driveChanges(seed, 120, STEPS_MS, () => open(packAsYouGo ? undefined : () => START));
      await dnc.snapshot();
      if (packAsYouGo) expect((await readHistoryListing(dir)).packs.length, `seed ${seed} packed as it went`).toBeGreaterThan(0);
      else expect((await readHistoryListing(dir)).packs, `seed ${seed} old layout`).toEqual([]);
      await expectModelAnswers(dnc, run, next, `seed ${seed} before the late open`);
      await dnc.close();
      const late = await open(() => run.now + 2 * DAY);
      await expectAllPacked(dir);
      await expectModelAnswers(late, run, next, `seed ${seed} packed`);
      await late.close();
      const again = await open(() => run.now + 2 * DAY);
      await expectModelAnswers(again, run, next, `seed ${seed} packed, restarted`);
      await again.close();
      expect(await verifyChain(dir, null)).toMatchObject({ ok: true, fromSeq: 0, problem: null });
      for (const org of ORGS) {
        const evidence = await buildEvidence(dir, NUMBERS[0]!, { org }, null);
        expect(evidence.events.length).toBe((await new HistoryReader(dir).events(NUMBERS[0]!, { org }, Number.MAX_SAFE_INTEGER)).length);
      }
    }, 60_000);
  }
});

/** What a reader answers: every number's history in both organisations, and statusAt at each change's time and between. */
async function answers(dataDir: string, instants: readonly number[]): Promise<string> {
  const reader = new HistoryReader(dataDir);
  const all: unknown[] = [];
  for (const org of ORGS) for (const number of NUMBERS) all.push(await reader.events(number, { org }, Number.MAX_SAFE_INTEGER));
  for (const at of instants) all.push(await reader.statusAt(NUMBERS[0]!, at, { org: 'default', projId: 'p1' }, Number.MAX_SAFE_INTEGER));
  return JSON.stringify(all);
}

/** Fails the `failAt`-th call (1-based) that writes, flushes, renames or removes; counts them all. */
function failingAt(failAt: number): PersistFileSystem & { calls: number } {
  const fileSystem = { ...nodeFileSystem, calls: 0 };
  for (const kind of ['open', 'writev', 'fdatasync', 'fsync', 'close', 'rename', 'unlink', 'fsyncDirectory'] as const) {
    const real = nodeFileSystem[kind] as (...args: unknown[]) => Promise<unknown>;
    (fileSystem as Record<string, unknown>)[kind] = async (...args: unknown[]) => {
      fileSystem.calls++;
      if (fileSystem.calls === failAt) throw errnoError(kind === 'fdatasync' || kind === 'fsyncDirectory' ? 'EIO' : 'ENOSPC');
      return real(...args);
    };
  }
  return fileSystem;
}

describe('a packing pass that fails or stops at any step', () => {
  it('leaves the members or the pack (or both), never neither; the next pass finishes and removes what a pack holds', async () => {
    const base = path.join(dir, 'base');
    const dnc = await openDnc({ dataDir: base, logger: quietLogger, clock: () => START });
    const [a, b] = NUMBERS.map(String);
    const instants: number[] = [];
    // Three days: five segments archived in the layout an older idnc left (files and summaries).
    for (const [day, step] of [[0, () => dnc.add([a!, b!], { projId: 'p1' })], [0, () => dnc.remove(a!, { projId: 'p1' })], [1, () => dnc.add(a!)], [1, () => dnc.add(a!, { projId: 'p1', org: 'acme' })], [2, () => dnc.dropList({ projId: 'p1' })], [2, () => dnc.add(b!)]] as const) {
      const at = START + day * DAY + instants.length * 60_000;
      vi.setSystemTime(at);
      instants.push(at - 1, at);
      await step();
      await dnc.snapshot();
    }
    await dnc.close();
    expect((await readHistoryListing(base)).loose.length).toBeGreaterThanOrEqual(5);
    const late = START + 4 * DAY;
    const expected = await answers(base, instants);
    let steps = 0;
    for (let failAt = 1; ; failAt++) {
      const work = path.join(dir, `fail-${failAt}`);
      fs.cpSync(base, work, { recursive: true });
      const fileSystem = failingAt(failAt);
      const outcome = await packHistory(fileSystem, work, late).then(() => 'done', (error: NodeJS.ErrnoException) => error.code);
      if (outcome === 'done') {
        steps = fileSystem.calls;
        break;
      }
      expect(['EIO', 'ENOSPC'], `step ${failAt}`).toContain(outcome);
      expect(await answers(work, instants), `after a failure at step ${failAt}`).toBe(expected);
      expect((await verifyChain(work, null)).problem, `after a failure at step ${failAt}`).toBeNull();
      await packHistory(nodeFileSystem, work, late);
      await expectAllPacked(work);
      expect(await answers(work, instants), `after the next pass (failure at step ${failAt})`).toBe(expected);
      expect((await verifyChain(work, null)).ok, `after the next pass (failure at step ${failAt})`).toBe(true);
      await removeDir(work);
    }
    // Three packs, each written, flushed, renamed, then its members removed.
    expect((await readHistoryListing(path.join(dir, `fail-${steps + 1}`))).packs).toHaveLength(3);
    expect(steps).toBeGreaterThan(15);
  }, 60_000);
});

describe('a directory an earlier version left with many closed days', () => {
  it('is packed a bounded number of days per pass, oldest first, and reads the same throughout', async () => {
    const dnc = await openDnc({ dataDir: dir, logger: quietLogger, clock: () => START });
    const days = HISTORY_PACK_PASS_PACKS_MAX + 3;
    for (let day = 0; day < days; day++) {
      vi.setSystemTime(START + day * DAY);
      await dnc.add(String(NUMBERS[day % NUMBERS.length]), { source: day % 2 === 0 ? 'web' : 'ivr' });
      await dnc.snapshot();
    }
    await dnc.close();
    const before = await answers(dir, [START + DAY / 2, START + (days - 2) * DAY]);
    const late = START + (days + 1) * DAY;
    const first = (await readHistoryListing(dir)).loose.length;
    expect(await packHistory(nodeFileSystem, dir, late)).toBe(HISTORY_PACK_PASS_PACKS_MAX);
    const after = await readHistoryListing(dir);
    expect(after.packs).toHaveLength(HISTORY_PACK_PASS_PACKS_MAX);
    expect(after.loose).toHaveLength(first - HISTORY_PACK_PASS_PACKS_MAX);
    expect(after.packs.at(-1)!.lastSeq).toBeLessThan(after.loose[0]!.firstSeq);
    expect(await answers(dir, [START + DAY / 2, START + (days - 2) * DAY])).toBe(before);
    expect(await packHistory(nodeFileSystem, dir, late)).toBe(first - HISTORY_PACK_PASS_PACKS_MAX);
    await expectAllPacked(dir);
    expect(await answers(dir, [START + DAY / 2, START + (days - 2) * DAY])).toBe(before);
  }, 60_000);
});

describe('an import in a pack', () => {
  it('is indexed by the ranges of its records: its pack is its log bytes and a few bytes a record, and each number finds the import', { timeout: 120_000 }, async () => {
    // Every third number from 212-200-0000: the numbers between them are in the records' ranges, not in them.
    const nth = (i: number): number => 2_122_000_000 + i * 3;
    const count = LOG_RECORD_NUMBERS_MAX + 1000;
    const numbers = new Float64Array(count);
    for (let i = 0; i < count; i++) numbers[i] = nth(i);
    const open = (clock: () => number) => openDnc({ dataDir: dir, logger: quietLogger, clock });
    vi.setSystemTime(START);
    let dnc = await open(() => START);
    const spaced = Array.from({ length: 20 }, (_, i) => String(3_105_550_000 + i * 2));
    await dnc.add(spaced, { projId: 'p1' });
    const meta = { sha256: 'ab'.repeat(32), name: 'registry.csv.gz', bytes: 123_456 };
    await dnc.addNumbers(numbers, { keyId: 'cli', source: 'import', import: meta });
    await dnc.snapshot();
    vi.setSystemTime(START + 1000);
    await dnc.add('5039367187');
    await dnc.snapshot();
    const probes = [0, 1, 4095, 4096, 4097, 12_345, LOG_RECORD_NUMBERS_MAX - 1, LOG_RECORD_NUMBERS_MAX, count - 1];
    const loose = await Promise.all(probes.map(async (i) => (await dnc.history(nth(i))).events));
    await dnc.close();
    dnc = await open(() => START + 2 * DAY);
    const [pack] = (await readHistoryListing(dir)).packs;
    const index = await readPackIndex(pack!.path);
    expect(index.rangeMin.length).toBe(3);
    // Both records of the import are read a block at a time (their deltas located in the index).
    expect(index.rangeBlocks.filter((blocks) => blocks?.located !== null && blocks?.located !== undefined)).toHaveLength(2);
    const members = index.members.reduce((sum, member) => sum + member.bytes, 0);
    expect(fs.statSync(pack!.path).size - members - PACK_HEADER_BYTES).toBeLessThan(members / 100);
    // Each block of 4,096 deltas starts where the index says: the first, last and inner numbers of blocks.
    for (const [k, i] of probes.entries()) {
      const { events } = await dnc.history(nth(i));
      expect(events, `number ${i}`).toEqual([expect.objectContaining({ op: 'add', source: 'import', import: { ...meta, count } })]);
      // The same event as read from the segment before it was packed: seq, at, fields and the record's hash.
      expect(events, `number ${i}`).toEqual(loose[k]);
      expect((await dnc.history(nth(i) + 1)).events, `number ${i} + 1`).toEqual([]);
    }
    expect((await dnc.history('3105550004', { projId: 'p1' })).events).toEqual([expect.objectContaining({ op: 'add', projId: 'p1' })]);
    expect((await dnc.history('3105550005', { projId: 'p1' })).events).toEqual([]);
    expect((await dnc.history('2129999999')).events).toEqual([]);
    await dnc.close();
  });
});

describe('verify over packs', () => {
  async function packed(): Promise<{ pack: string; firstSeq: number }> {
    const open = (clock: () => number) => openDnc({ dataDir: dir, logger: quietLogger, segmentBytesMax: 400, clock });
    vi.setSystemTime(START);
    const dnc = await open(() => START);
    for (let round = 0; round < 3; round++) {
      await dnc.add(String(5039367100 + round), { source: 'web' });
      await dnc.snapshot();
    }
    await dnc.close();
    await (await open(() => START + 2 * DAY)).close();
    const [pack] = (await readHistoryListing(dir)).packs;
    return { pack: pack!.path, firstSeq: pack!.firstSeq };
  }

  it('names the member and offset of a record that fails its CRC-32, and the seqs a record changed with its CRC recomputed must be in', async () => {
    const { pack, firstSeq } = await packed();
    expect((await verifyChain(dir, null)).ok).toBe(true);
    const bytes = fs.readFileSync(pack);
    const record = PACK_HEADER_BYTES + LOG_SEGMENT_HEADER_BYTES;
    const end = record + LOG_RECORD_HEADER_BYTES + bytes.readUInt32LE(record);
    const at = bytes.indexOf('web', record);
    bytes[at] = 'x'.charCodeAt(0);
    bytes.writeUInt32LE(crc32(bytes.subarray(record + 8, end)), record + 4);
    fs.writeFileSync(pack, bytes);
    const changed = await verifyChain(dir, null);
    expect(changed.ok).toBe(false);
    expect(changed.problem).toMatch(new RegExp(`stored at seq \\d+: a record from seq ${firstSeq} to \\d+ was changed`));
    bytes[record + LOG_RECORD_HEADER_BYTES + 2]! ^= 1;
    fs.writeFileSync(pack, bytes);
    expect((await verifyChain(dir, null)).problem).toContain(`history/${path.basename(pack)} (log-${String(firstSeq).padStart(16, '0')}.idnclog) at offset ${LOG_SEGMENT_HEADER_BYTES}, seq ${firstSeq}: record fails its CRC-32 checksum`);
  });

  it('names a pack whose index was changed with its CRC-32 recomputed (it would hide an event from queries)', async () => {
    const { pack } = await packed();
    expect((await verifyChain(dir, null)).ok).toBe(true);
    const bytes = fs.readFileSync(pack);
    const indexOffset = Number(bytes.readBigUInt64LE(bytes.length - 16));
    // The first key of the table (a number modulo 2^32) changed: that number's add would no longer be found.
    const keys = bytes.indexOf(Buffer.from('keys'), indexOffset) + 'keys'.length + 2;
    bytes[keys]! ^= 1;
    bytes.writeUInt32LE(crc32(bytes.subarray(indexOffset, bytes.length - 16)), bytes.length - 8);
    fs.writeFileSync(pack, bytes);
    expect(await verifyChain(dir, null)).toMatchObject({ ok: false, problem: expect.stringContaining(`history/${path.basename(pack)}: its index is not the one its records give`) });
  });

  it('links the chain across an expired pack by its .idncgone file, and names that file when it is damaged', async () => {
    await packed();
    const expire = await openDnc({ dataDir: dir, logger: quietLogger, historyRetentionMs: DAY, clock: () => START + 5 * DAY });
    expect((await expire.history('5039367100')).events).toEqual([expect.objectContaining({ op: 'add', source: 'web' })]);
    await expire.close();
    const listing = await readHistoryListing(dir);
    expect(listing.packs).toEqual([]);
    const gone = listing.names.filter((name) => name.endsWith('.idncgone'));
    expect(gone).toHaveLength(1);
    expect(await verifyChain(dir, null)).toMatchObject({ ok: true, problem: null, expired: { segments: expect.any(Number) } });
    const file = path.join(historyDir(dir), gone[0]!);
    const bytes = fs.readFileSync(file);
    bytes[10]! ^= 1;
    fs.writeFileSync(file, bytes);
    expect((await verifyChain(dir, null)).problem).toContain(`history/${gone[0]}, the summary of an expired segment, fails its checks`);
  });

  it('expires a pack whole: a failure at any step of the sweep loses no carried add and leaves nothing verify calls corrupt; the next sweep finishes', async () => {
    await packed();
    const base = path.join(dir, 'base');
    fs.mkdirSync(base);
    for (const name of fs.readdirSync(dir)) if (name !== 'base') fs.renameSync(path.join(dir, name), path.join(base, name));
    // Numbers 5039367100-102 were added to the master list and never removed: still listed.
    const listed = (org: string, projId: string, number: number): boolean => org === 'default' && projId === '' && number >= 5039367100 && number <= 5039367102;
    const now = START + 5 * DAY;
    const carriedAnswers = async (dataDir: string): Promise<string> => JSON.stringify(await Promise.all([0, 1, 2].map((i) => new HistoryReader(dataDir).events(5039367100 + i, { org: 'default' }, Number.MAX_SAFE_INTEGER))));
    const expected = await carriedAnswers(base);
    expect(JSON.parse(expected).flat()).toHaveLength(3);
    let failures = 0;
    for (let failAt = 1; ; failAt++) {
      const work = path.join(dir, `fail-${failAt}`);
      fs.cpSync(base, work, { recursive: true });
      const fileSystem = failingAt(failAt);
      const outcome = await sweepHistory(fileSystem, work, DAY, now, listed).then(() => 'done', (error: NodeJS.ErrnoException) => error.code);
      if (outcome === 'done') break;
      failures++;
      expect(await carriedAnswers(work), `after a failure at step ${failAt}`).toBe(expected);
      expect((await verifyChain(work, null)).problem, `after a failure at step ${failAt}`).toBeNull();
      await sweepHistory(nodeFileSystem, work, DAY, now, listed);
      expect((await readHistoryListing(work)).packs, `after the next sweep (failure at step ${failAt})`).toEqual([]);
      expect(await carriedAnswers(work), `after the next sweep (failure at step ${failAt})`).toBe(expected);
      expect((await verifyChain(work, null)).ok, `after the next sweep (failure at step ${failAt})`).toBe(true);
      await removeDir(work);
    }
    // The carried file and the gone file each written, flushed, renamed; the pack removed; the directory flushed.
    expect(failures).toBeGreaterThan(10);
  });

  it('names a pack whose index fails its CRC-32', async () => {
    const { pack } = await packed();
    const bytes = fs.readFileSync(pack);
    bytes[bytes.length - 20]! ^= 1;
    fs.writeFileSync(pack, bytes);
    expect(await verifyChain(dir, null)).toMatchObject({ ok: false, problem: expect.stringContaining(`history/${path.basename(pack)}: its index fails its CRC-32`) });
    expect(fs.readdirSync(historyDir(dir))).toContain(path.basename(pack));
  });
});
