// Evidence files: built on a data directory whose number's events sit in archived segments, in
// segments in between and in the head's own segment, checked against the head they were made for
// and against a later head, and refused, naming what failed, when a record byte, an event field, a
// Merkle path node or the order of the segment roots is changed, or the head is another directory's.
// Over packs, it reads only the members that hold events (the others are stepped over by the root
// and last hash their pack's index stores), and a stored root changed is caught by verify and leads
// the evidence away from the true head.

import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { crc32 } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { openDnc, type DurableDnc } from '../../src/open.js';
import { listHistory, readHistoryListing } from '../../src/history/archive.js';
import { buildEvidence } from '../../src/history/evidence.js';
import { verifyChain } from '../../src/history/verify-chain.js';
import { verifyEvidence, type EvidenceFile } from '../../src/history/evidence-verify.js';
import { readPackIndex, type PackIndex } from '../../src/history/pack.js';
import { makeTempDir, recordingLogger, removeDir } from '../persist/helpers.js';

const PHONE = '5039367187';
let dir: string;
let other: string;
beforeEach(async () => {
  dir = await makeTempDir('idnc-evidence-');
  other = await makeTempDir('idnc-evidence-other-');
});
afterEach(async () => {
  await removeDir(dir);
  await removeDir(other);
});

const open = (dataDir: string): Promise<DurableDnc> => openDnc({ dataDir, logger: recordingLogger(), segmentBytesMax: 600, snapshotIntervalMs: 3_600_000 });

/** Other numbers' changes, enough to fill a few 600-byte segments. */
async function filler(dnc: DurableDnc, from: number): Promise<void> {
  for (let i = 0; i < 12; i++) await dnc.add(String(2125550000 + from + i), { reason: `filler ${i}` });
}

/** The number's events: one archived early, one in a segment between, one in the head's segment. */
async function populate(dnc: DurableDnc): Promise<void> {
  await dnc.add(PHONE, { source: 'ivr', reason: 'pressed 9' });
  await filler(dnc, 0);
  await dnc.snapshot();
  await dnc.remove(PHONE, { projId: 'p' });
  await filler(dnc, 100);
  await dnc.snapshot();
  await filler(dnc, 200);
  await dnc.add(PHONE, { projId: 'p', source: 'web', requestedAt: '2026-01-02T03:04:05Z' });
  await filler(dnc, 300);
}

/** A deep copy to tamper with, as loose JSON. */
const copy = (file: EvidenceFile): any => JSON.parse(JSON.stringify(file));

describe('evidence', () => {
  it('holds every event of the number, each proved from an archived segment, a segment between, or the head segment, and verifies', async () => {
    const dnc = await open(dir);
    await populate(dnc);
    const head = await dnc.historyHead();
    const { events } = await dnc.history(PHONE);
    await dnc.close();
    expect((await listHistory(dir)).length).toBeGreaterThanOrEqual(2);
    const file = await buildEvidence(dir, Number(PHONE), { org: 'default' }, head.seq);
    expect(file.head).toEqual(head);
    expect(file.events.map(({ record: _record, path: _path, ...event }) => event)).toEqual(events.map((event) => ({ ...event, keyName: undefined })));
    expect(file.events.map((event) => event.op)).toEqual(['add', 'remove', 'add']);
    const chain = file.chain!;
    expect(chain.segments.length).toBeGreaterThanOrEqual(3);
    expect(file.events[0]!.path.length).toBeGreaterThan(0);
    expect(file.events[2]!.seq).toBeLessThan(chain.head.firstSeq);
    expect(verifyEvidence(copy(file), { hash: head.hash, seq: head.seq })).toEqual({ ok: true, events: 3 });
  });

  it('is proved against a later head, with the newest event in the head segment, and a saved earlier head still proves the older events', async () => {
    const dnc = await open(dir);
    await populate(dnc);
    const earlier = await dnc.historyHead();
    await dnc.snapshot();
    await filler(dnc, 400);
    await dnc.remove(PHONE);
    const later = await dnc.historyHead();
    await dnc.close();
    const now = await buildEvidence(dir, Number(PHONE), { org: 'default' }, null);
    expect(now.head).toEqual(later);
    expect(now.events.at(-1)!.seq).toBeGreaterThanOrEqual(now.chain!.head.firstSeq);
    expect(verifyEvidence(copy(now), later)).toEqual({ ok: true, events: 4 });
    const saved = await buildEvidence(dir, Number(PHONE), { org: 'default' }, earlier.seq, earlier.hash);
    expect(verifyEvidence(copy(saved), earlier)).toEqual({ ok: true, events: 3 });
    expect(verifyEvidence(copy(saved), later)).toMatchObject({ ok: false, problem: expect.stringContaining(`made for the head at seq ${earlier.seq}`) });
    await expect(buildEvidence(dir, Number(PHONE), { org: 'default' }, earlier.seq, later.hash)).rejects.toThrow(/does not pass through the given head/);
  });

  it('proves several events of one archived segment, each by its own path to the same root', async () => {
    const dnc = await open(dir);
    for (let i = 0; i < 5; i++) {
      await dnc.add(PHONE, { projId: `p${i}` });
      await dnc.add(String(2125550000 + i));
    }
    await dnc.snapshot();
    await filler(dnc, 100);
    const head = await dnc.historyHead();
    await dnc.close();
    const file = await buildEvidence(dir, Number(PHONE), { org: 'default' }, head.seq);
    expect(file.events.map((event) => event.projId)).toEqual(['p0', 'p1', 'p2', 'p3', 'p4']);
    expect(file.chain!.segments[0]!.firstSeq).toBe(1);
    expect(file.events[2]!.seq).toBeLessThan(file.chain!.segments[1]!.firstSeq);
    expect(new Set(file.events.map((event) => event.path.join())).size).toBe(5);
    expect(verifyEvidence(copy(file), head)).toEqual({ ok: true, events: 5 });
  });

  it('does not read an archived segment without events whose root the next summary holds: damage there does not stop it', async () => {
    const dnc = await open(dir);
    await populate(dnc);
    const head = await dnc.historyHead();
    await dnc.close();
    const before = await buildEvidence(dir, Number(PHONE), { org: 'default' }, head.seq);
    const archived = await listHistory(dir);
    const seqs = before.events.map((event) => event.seq);
    const quiet = archived.findIndex((segment, i) => i > 0 && i < archived.length - 1 && !seqs.some((seq) => seq >= segment.firstSeq && seq < archived[i + 1]!.firstSeq));
    expect(quiet).toBeGreaterThan(0);
    const bytes = fs.readFileSync(archived[quiet]!.path);
    bytes[bytes.length - 1]! ^= 1;
    fs.writeFileSync(archived[quiet]!.path, bytes);
    expect((await verifyChain(dir, null)).ok).toBe(false);
    const after = await buildEvidence(dir, Number(PHONE), { org: 'default' }, head.seq, head.hash);
    expect(after).toEqual(before);
    expect(verifyEvidence(copy(after), head)).toEqual({ ok: true, events: 3 });
  });

  describe('tampered', () => {
    let file: EvidenceFile;
    let head: { hash: string; seq: number };
    beforeEach(async () => {
      const dnc = await open(dir);
      await populate(dnc);
      head = await dnc.historyHead();
      await dnc.close();
      file = await buildEvidence(dir, Number(PHONE), { org: 'default' }, head.seq);
    });
    const problemOf = (tampered: unknown, against = head): string => {
      const verdict = verifyEvidence(tampered, against);
      expect(verdict.ok).toBe(false);
      return verdict.ok ? '' : verdict.problem;
    };

    it('a flipped byte of a record fails its checksum; recomputed, with the fields and digest shown to match, it is not on the path', () => {
      const flipped = copy(file);
      const bytes = Buffer.from(flipped.events[0].record, 'base64');
      const at = bytes.indexOf('pressed 9');
      bytes[at + 8] = '8'.charCodeAt(0);
      flipped.events[0].record = bytes.toString('base64');
      expect(problemOf(flipped)).toMatch(new RegExp(`^event 1 \\(seq ${file.events[0]!.seq}\\): record bytes fail their CRC-32`));
      bytes.writeUInt32LE(crc32(bytes.subarray(8)), 4);
      flipped.events[0].record = bytes.toString('base64');
      expect(problemOf(flipped)).toMatch(/^event 1 \(seq \d+\): reason is "pressed 9" but the record says "pressed 8"/);
      flipped.events[0].reason = 'pressed 8';
      expect(problemOf(flipped)).toMatch(/^event 1 \(seq \d+\): hash is "[0-9a-f]{64}" but the record says/);
      flipped.events[0].hash = createHash('sha256').update(bytes).digest('hex');
      expect(problemOf(flipped)).toMatch(/^event 1 \(seq \d+\): Merkle path does not lead to the root of the segment starting at seq 1$/);
    });

    it("a record moved to another event's place names the seq it holds", () => {
      const swapped = copy(file);
      swapped.events[0] = { ...swapped.events[2], seq: file.events[0]!.seq, path: file.events[0]!.path };
      expect(problemOf(swapped)).toMatch(/^event 1 \(seq \d+\): seq is \d+ but the record says \d+/);
    });

    it('a changed event field names the field', () => {
      const changed = copy(file);
      changed.events[0].requestedAt = '2020-01-01T00:00:00.000Z';
      expect(problemOf(changed)).toMatch(/^event 1 \(seq \d+\): requestedAt is "2020-01-01T00:00:00.000Z" but the record says/);
      const op = copy(file);
      op.events[1].op = 'add';
      expect(problemOf(op)).toMatch(/^event 2 \(seq \d+\): op is "add" but the record says "remove"/);
    });

    it('a dropped or changed Merkle path node breaks the path', () => {
      const dropped = copy(file);
      dropped.events[0].path.pop();
      expect(problemOf(dropped)).toMatch(/^event 1 \(seq \d+\): Merkle path has \d+ nodes, not the number/);
      const changed = copy(file);
      changed.events[0].path[0] = '0'.repeat(64);
      expect(problemOf(changed)).toMatch(/^event 1 \(seq \d+\): Merkle path does not lead to the root of the segment starting at seq 1/);
    });

    it('reordered or altered segment roots do not lead to the head', () => {
      const reordered = copy(file);
      const [a, b] = [reordered.chain.segments[1], reordered.chain.segments[2]];
      reordered.chain.segments[1] = { firstSeq: a.firstSeq, root: b.root };
      reordered.chain.segments[2] = { firstSeq: b.firstSeq, root: a.root };
      expect(problemOf(reordered)).toMatch(/^the chain proof does not lead to the given head/);
      const swapped = copy(file);
      swapped.chain.segments.reverse();
      expect(problemOf(swapped)).toMatch(/^the chain proof: segment root 2 \(first seq \d+\) is out of order/);
      const digest = copy(file);
      digest.chain.head.digests[0] = 'f'.repeat(64);
      expect(problemOf(digest)).toMatch(/^the chain proof does not lead to the given head/);
    });

    it("another directory's head is not reached", async () => {
      const dnc = await open(other);
      await populate(dnc);
      const foreign = await dnc.historyHead();
      await dnc.close();
      expect(foreign.hash).not.toBe(head.hash);
      expect(problemOf(copy(file), foreign)).toMatch(/^the evidence was made for the head at seq \d+ \([0-9a-f]{64}\), not the given head/);
      const relabelled = copy(file);
      relabelled.head = foreign;
      expect(problemOf(relabelled, foreign)).toMatch(/^the chain proof/);
    });
  });
});

describe('evidence over packs', () => {
  const DAY = 86_400_000;
  const START = Date.parse('2026-01-01T00:00:00Z');
  const DAYS = 6;
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['Date'] });
  });
  afterEach(() => {
    vi.restoreAllMocks();
    vi.useRealTimers();
  });

  /** Six days of changes, a few segments a day, packed a day a file; the number's events on days 0 and 2 and in the live segment. */
  async function packedDays(): Promise<{ head: { hash: string; seq: number }; packs: PackIndex[] }> {
    const openAt = (now: number): Promise<DurableDnc> => openDnc({ dataDir: dir, logger: recordingLogger(), segmentBytesMax: 600, snapshotIntervalMs: 3_600_000, clock: () => now });
    vi.setSystemTime(START);
    const dnc = await openAt(START);
    for (let day = 0; day < DAYS; day++) {
      vi.setSystemTime(START + day * DAY);
      if (day === 0 || day === 2) await dnc.add(PHONE, { projId: `day${day}`, source: 'ivr' });
      for (let round = 0; round < 3; round++) {
        await filler(dnc, day * 1000 + round * 100);
        await dnc.snapshot();
      }
    }
    await dnc.add(PHONE, { source: 'web' });
    const head = await dnc.historyHead();
    await dnc.close();
    await (await openAt(START + (DAYS + 1) * DAY)).close();
    const { packs, loose } = await readHistoryListing(dir);
    expect({ packs: packs.length, loose: loose.length }).toEqual({ packs: DAYS, loose: 0 });
    return { head, packs };
  }

  /** The pack members a call reads records of (a read starting within them; not the index), as `pack:first seq`. */
  async function membersRead<T>(packs: readonly PackIndex[], call: () => Promise<T>): Promise<{ result: T; read: Set<string> }> {
    const read = new Set<string>();
    const open = fs.promises.open;
    vi.spyOn(fs.promises, 'open').mockImplementation(async (...args: Parameters<typeof open>) => {
      const handle = await open(...args);
      const pack = packs.find((candidate) => candidate.path === args[0]);
      if (pack === undefined) return handle;
      const original = handle.read.bind(handle) as (...readArgs: unknown[]) => Promise<fs.promises.FileReadResult<Buffer>>;
      (handle as { read: unknown }).read = async (...readArgs: unknown[]) => {
        const result = await original(...readArgs);
        const position = Number(readArgs[3]);
        // Where a read starts: a query's first read of a record may run on past its member's end.
        const member = pack.members.find((candidate) => candidate.offset <= position && position < candidate.offset + candidate.bytes);
        if (member !== undefined) read.add(`${pack.firstSeq}:${member.firstSeq}`);
        return result;
      };
      return handle;
    });
    try {
      return { result: await call(), read };
    } finally {
      vi.mocked(fs.promises.open).mockRestore();
    }
  }

  it('reads only the members holding the events, steps over the rest by their stored ends, and verifies against the head', async () => {
    const { head, packs } = await packedDays();
    const members = packs.flatMap((pack) => pack.members.map((member) => ({ pack, member })));
    expect(members.length).toBeGreaterThanOrEqual(3 * DAYS);
    expect(members.every(({ member }) => member.end !== undefined)).toBe(true);
    const { result: file, read } = await membersRead(packs, () => buildEvidence(dir, Number(PHONE), { org: 'default' }, head.seq, head.hash));
    expect(file.events.map((event) => event.projId)).toEqual(['day0', 'day2', null]);
    const holding = new Set(file.events.map((event) => members.find(({ member }) => member.firstSeq <= event.seq && event.seq <= member.lastSeq)).filter((found) => found !== undefined).map(({ pack, member }) => `${pack.firstSeq}:${member.firstSeq}`));
    expect(holding.size).toBe(2);
    expect(read).toEqual(holding);
    expect(file.chain!.segments.length).toBeGreaterThan(members.length - members.findIndex(({ member }) => member.firstSeq <= file.events[0]!.seq && file.events[0]!.seq <= member.lastSeq) - 1);
    expect(verifyEvidence(copy(file), head)).toEqual({ ok: true, events: 3 });
  }, 30_000);

  it('opens a pack without events once, for its index (the number tables the query consults and the stored ends the walk steps over), and verifies', async () => {
    const { head, packs } = await packedDays();
    const opened = new Map<string, number>();
    const open = fs.promises.open;
    vi.spyOn(fs.promises, 'open').mockImplementation(async (...args: Parameters<typeof open>) => {
      opened.set(String(args[0]), (opened.get(String(args[0])) ?? 0) + 1);
      return open(...args);
    });
    let file: EvidenceFile;
    try {
      file = await buildEvidence(dir, Number(PHONE), { org: 'default' }, head.seq, head.hash);
    } finally {
      vi.mocked(fs.promises.open).mockRestore();
    }
    expect(file.events).toHaveLength(3);
    const touched = new Set(file.events.map((event) => packs.find((pack) => pack.firstSeq <= event.seq && event.seq <= pack.lastSeq)?.path));
    const untouched = packs.filter((pack) => !touched.has(pack.path));
    expect(untouched.length).toBe(DAYS - 2);
    expect(untouched.map((pack) => opened.get(pack.path) ?? 0)).toEqual(untouched.map(() => 1));
    expect(verifyEvidence(copy(file), head)).toEqual({ ok: true, events: 3 });
  }, 30_000);

  it('a stored root changed (its index CRC recomputed) is named by verify, and evidence through it does not reach the true head', async () => {
    const { head, packs } = await packedDays();
    const pack = packs[3]!;
    const member = pack.members[1]!;
    const bytes = fs.readFileSync(pack.path);
    const indexOffset = Number(bytes.readBigUInt64LE(bytes.length - 16));
    const at = bytes.indexOf(Buffer.from(member.end!.root), indexOffset);
    expect(at).toBeGreaterThan(indexOffset);
    bytes[at]! ^= 1;
    bytes.writeUInt32LE(crc32(bytes.subarray(indexOffset, bytes.length - 16)), bytes.length - 8);
    fs.writeFileSync(pack.path, bytes);
    expect((await readPackIndex(pack.path)).members[1]!.end!.root[0]).not.toBe(member.end!.root[0]);
    expect(await verifyChain(dir, null)).toMatchObject({ ok: false, problem: expect.stringContaining(`its index is not the one its records give`) });
    await expect(buildEvidence(dir, Number(PHONE), { org: 'default' }, head.seq, head.hash)).rejects.toThrow(/does not pass through the given head/);
    const built = await buildEvidence(dir, Number(PHONE), { org: 'default' }, head.seq);
    expect(built.head.hash).not.toBe(head.hash);
    expect(verifyEvidence(copy(built), head)).toMatchObject({ ok: false });
  }, 30_000);
});
