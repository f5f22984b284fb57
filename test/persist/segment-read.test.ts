// Recovery and `idnc verify` read segments in bounded chunks: with chunks of a few bytes (every
// record straddles chunk ends, a header arrives in pieces, the bytes after a bad record are
// searched window by window) they must give exactly what one read of the whole file gives, on
// generated logs with torn tails, multi-record changes, corruption in the middle, appended garbage
// with or without a valid record after it, and snapshots covering a prefix. A segment over 2 GiB,
// which one read cannot hold (readFile refused it), is recovered.

import fs from 'node:fs';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LOG_RECORD_BODY_BYTES_MAX, LOG_RECORD_HEADER_BYTES, LOG_SEGMENT_HEADER_BYTES } from '../../src/constants.js';
import { IdncError } from '../../src/errors.js';
import { listDataDir, segmentPath, snapshotPath } from '../../src/persist/data-dir.js';
import { nodeFileSystem, type PersistFileSystem } from '../../src/persist/file-system.js';
import { encodeRecord, encodeRecords, type LogChange } from '../../src/persist/record.js';
import { applyRecord, recoverDataDir } from '../../src/persist/recovery.js';
import { segmentHeader } from '../../src/persist/segment-scan.js';
import { captureStore, writeSnapshot } from '../../src/persist/snapshot.js';
import { stateDigest } from '../../src/persist/state-digest.js';
import { verifySegments } from '../../src/persist/verify.js';
import { DncStore } from '../../src/store/dnc-store.js';
import { makeTempDir, recordingLogger, removeDir } from './helpers.js';

let dir: string;
beforeEach(async () => {
  dir = await makeTempDir();
});
afterEach(async () => {
  await removeDir(dir);
});

const NUMBER_BASE = 2_125_550_000;

const changeArbitrary = fc.record({
  op: fc.constantFrom<'add' | 'remove'>('add', 'add', 'remove'),
  org: fc.constantFrom('default', 'acme'),
  projId: fc.constantFrom('', 'p1'),
  offsets: fc.uniqueArray(fc.nat(60), { minLength: 1, maxLength: 8 }),
  /** Records the change is split into (more: true on all but the last). */
  records: fc.constantFrom(1, 1, 1, 2, 3),
  /** Some records carry many numbers, so that records are long too. */
  wide: fc.boolean(),
});

const damageArbitrary = fc.oneof(
  fc.constant({ kind: 'none' as const }),
  fc.record({ kind: fc.constant('cut' as const), at: fc.double({ min: 0, max: 1, noNaN: true }) }),
  fc.record({ kind: fc.constant('flip' as const), segment: fc.double({ min: 0, max: 1, noNaN: true }), at: fc.double({ min: 0, max: 1, noNaN: true }), bit: fc.nat(7) }),
  fc.record({ kind: fc.constant('garbage' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 200 }), thenRecord: fc.boolean() }),
);

const planArbitrary = fc.record({
  changes: fc.array(changeArbitrary, { minLength: 1, maxLength: 12 }),
  /** Fractions of the records where a new segment starts (1: an empty last segment). */
  breaks: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 3 }),
  /** Fraction of the changes a snapshot covers, or none. */
  snapshot: fc.option(fc.double({ min: 0, max: 1, noNaN: true })),
  dropCoveredSegments: fc.boolean(),
  damage: damageArbitrary,
});

type Plan = typeof planArbitrary extends fc.Arbitrary<infer T> ? T : never;

/** The records of the plan's changes, in log order, and the seq each change ends at. */
function recordsOf(plan: Plan): { records: LogChange[]; changeEnds: number[] } {
  const records: LogChange[] = [];
  const changeEnds: number[] = [];
  for (const change of plan.changes) {
    const count = change.wide ? 2000 : 1;
    const numbers = change.offsets.flatMap((offset) => Array.from({ length: count }, (_, i) => NUMBER_BASE + offset * 10_000 + i));
    numbers.sort((a, b) => a - b);
    const per = Math.ceil(numbers.length / change.records);
    for (let part = 0; part < change.records; part++) {
      const slice = Float64Array.from(numbers.slice(part * per, (part + 1) * per));
      const more = part < change.records - 1;
      records.push({ op: change.op, org: change.org, projId: change.projId, numbers: slice, ts: 1_700_000_000_000, keyId: null, ...(more ? { more } : {}) });
    }
    changeEnds.push(records.length);
  }
  return { records, changeEnds };
}

/** Writes the plan's data directory: segments, maybe a snapshot, then the damage. */
async function writePlan(plan: Plan): Promise<void> {
  const { records, changeEnds } = recordsOf(plan);
  const starts = [...new Set([0, ...plan.breaks.map((at) => Math.round(at * records.length))])].sort((a, b) => a - b);
  let snapshotSeq = 0;
  if (plan.snapshot !== null) {
    snapshotSeq = changeEnds[Math.floor(plan.snapshot * (changeEnds.length - 1))]!;
    const store = new DncStore();
    for (let i = 0; i < snapshotSeq; i++) applyRecord(store, { ...records[i]!, seq: i + 1 });
    const captured = captureStore(store);
    await writeSnapshot(nodeFileSystem, dir, snapshotPath(dir, snapshotSeq), snapshotSeq, captured);
    captured.release();
  }
  const files: string[] = [];
  for (let s = 0; s < starts.length; s++) {
    const from = starts[s]!;
    const to = starts[s + 1] ?? records.length;
    const isLast = s === starts.length - 1;
    if (plan.dropCoveredSegments && !isLast && to <= snapshotSeq) continue;
    const frames = records.slice(from, to).map((record, i) => encodeRecord(from + i + 1, record));
    const file = segmentPath(dir, from + 1);
    fs.writeFileSync(file, Buffer.concat([segmentHeader(), ...frames]));
    files.push(file);
  }
  damage(plan, files, records.length);
}

function damage(plan: Plan, files: string[], recordCount: number): void {
  const { damage: hurt } = plan;
  const last = files.at(-1)!;
  if (hurt.kind === 'cut') {
    const bytes = fs.readFileSync(last);
    fs.writeFileSync(last, bytes.subarray(0, Math.floor(hurt.at * bytes.length)));
  } else if (hurt.kind === 'flip') {
    const file = files[Math.min(files.length - 1, Math.floor(hurt.segment * files.length))]!;
    const bytes = fs.readFileSync(file);
    if (bytes.length === 0) return;
    bytes[Math.floor(hurt.at * (bytes.length - 1))]! ^= 1 << hurt.bit;
    fs.writeFileSync(file, bytes);
  } else if (hurt.kind === 'garbage') {
    const next = { op: 'add' as const, org: 'default', projId: '', numbers: Float64Array.of(NUMBER_BASE), ts: 0, keyId: null };
    const valid = hurt.thenRecord ? [encodeRecord(recordCount + 1, next)] : [];
    fs.appendFileSync(last, Buffer.concat([Buffer.from(hurt.bytes), ...valid]));
  }
}

/** Everything recovery tells about the directory (in 'read' mode it changes nothing). */
async function recoveryOutcome(readChunkBytes?: number): Promise<unknown> {
  const store = new DncStore();
  const logger = recordingLogger();
  try {
    const { durationMs: _, ...result } = await recoverDataDir(store, { dataDir: dir, fileSystem: nodeFileSystem, logger, mode: 'read', readChunkBytes });
    return { result, digest: stateDigest(store), log: logger.lines };
  } catch (error) {
    if (!(error instanceof IdncError)) throw error;
    return { code: error.code, message: error.message, log: logger.lines };
  }
}

async function verifyOutcome(readChunkBytes?: number): Promise<unknown> {
  return verifySegments((await listDataDir(dir)).segments, undefined, readChunkBytes);
}

describe('reading segments in chunks', () => {
  it('recovers and verifies exactly as one read of the whole file does', async () => {
    const seen = new Set<string>();
    await fc.assert(
      fc.asyncProperty(planArbitrary, fc.integer({ min: 1, max: 300 }), async (plan, randomChunk) => {
        for (const name of fs.readdirSync(dir)) fs.rmSync(path.join(dir, name));
        await writePlan(plan);
        const whole = await recoveryOutcome();
        const wholeReports = await verifyOutcome();
        for (const chunk of [1, 7, 16, 17, randomChunk]) {
          expect(await recoveryOutcome(chunk), `chunks of ${chunk}`).toEqual(whole);
          expect(await verifyOutcome(chunk), `chunks of ${chunk}`).toEqual(wholeReports);
        }
        const outcome = whole as { code?: string; result?: { snapshotSeq: number; replayed: number; tail: { droppedBytes: number } | null } };
        if (outcome.code !== undefined) seen.add('refused');
        else if ((outcome.result!.tail?.droppedBytes ?? 0) > 0) seen.add('torn tail cut');
        else seen.add('clean');
        if (outcome.result !== undefined && outcome.result.snapshotSeq > 0 && outcome.result.replayed > 0) seen.add('snapshot and replay');
        if (plan.changes.some((change) => change.records > 1) && outcome.result !== undefined) seen.add('multi-record change recovered');
      }),
      { numRuns: 150 },
    );
    // The generator reaches every kind of outcome, so the comparison above is not vacuous.
    expect([...seen].sort()).toEqual(['clean', 'multi-record change recovered', 'refused', 'snapshot and replay', 'torn tail cut']);
  }, 120_000);
});

describe('the tail segment rewritten by a starting writer', () => {
  it('is rewritten in chunks, byte for byte what was recovered', async () => {
    const changes: LogChange[] = Array.from({ length: 5 }, (_, i) => ({ op: 'add', org: 'default', projId: '', numbers: Float64Array.of(NUMBER_BASE + i), ts: 0, keyId: null }));
    const recovered = Buffer.concat([segmentHeader(), ...encodeRecords(1, changes)]);
    const torn = encodeRecord(6, changes[0]!).subarray(0, 9);
    fs.writeFileSync(segmentPath(dir, 1), Buffer.concat([recovered, torn]));
    const writes: { position: number; bytes: Buffer }[] = [];
    const recording: PersistFileSystem = {
      ...nodeFileSystem,
      writev: async (fd, buffers, position) => {
        writes.push({ position, bytes: Buffer.concat(buffers) });
        await nodeFileSystem.writev(fd, buffers, position);
      },
    };
    const chunkBytes = 7;
    const result = await recoverDataDir(new DncStore(), { dataDir: dir, fileSystem: recording, logger: recordingLogger(), mode: 'write', readChunkBytes: chunkBytes });
    expect(result.lastSeq).toBe(5);
    expect(fs.readFileSync(segmentPath(dir, 1))).toEqual(recovered);
    const rewritten = Buffer.alloc(recovered.length);
    for (const write of writes) write.bytes.copy(rewritten, write.position);
    expect(rewritten).toEqual(recovered);
    expect(Math.max(...writes.map((write) => write.bytes.length))).toBeLessThanOrEqual(chunkBytes);
  });
});

describe('a segment over 2 GiB', () => {
  it('is recovered, in chunks, records straddling their ends', async () => {
    // 129 records of the longest body, all zeros, which a snapshot covers (so they are checked, not
    // decoded), then one ordinary record: 2 GiB + 2 MiB, stored sparsely (only the headers are written).
    const covered = 129;
    const file = segmentPath(dir, 1);
    const fd = fs.openSync(file, 'w');
    fs.writeSync(fd, segmentHeader(), 0, LOG_SEGMENT_HEADER_BYTES, 0);
    const zeros = Buffer.alloc(LOG_RECORD_BODY_BYTES_MAX);
    let offset = LOG_SEGMENT_HEADER_BYTES;
    for (let seq = 1; seq <= covered; seq++) {
      const header = Buffer.alloc(LOG_RECORD_HEADER_BYTES);
      header.writeUInt32LE(zeros.length, 0);
      header.writeUInt32LE(seq, 8);
      header.writeUInt32LE(crc32(zeros, crc32(header.subarray(8))), 4);
      fs.writeSync(fd, header, 0, header.length, offset);
      offset += LOG_RECORD_HEADER_BYTES + zeros.length;
    }
    const last = encodeRecord(covered + 1, { op: 'add', org: 'default', projId: '', numbers: Float64Array.of(NUMBER_BASE + 1), ts: 0, keyId: null });
    fs.writeSync(fd, last, 0, last.length, offset);
    fs.closeSync(fd);
    expect(fs.statSync(file).size).toBeGreaterThan(2 ** 31);

    const snapshotStore = new DncStore();
    snapshotStore.listForWrite({ org: 'default', projId: '' }).addSorted(Float64Array.of(NUMBER_BASE));
    const captured = captureStore(snapshotStore);
    await writeSnapshot(nodeFileSystem, dir, snapshotPath(dir, covered), covered, captured);
    captured.release();

    const store = new DncStore();
    const result = await recoverDataDir(store, { dataDir: dir, fileSystem: nodeFileSystem, logger: recordingLogger(), mode: 'read' });
    expect(result).toMatchObject({ snapshotSeq: covered, lastSeq: covered + 1, replayed: 1, tail: { endOffset: offset + last.length, droppedBytes: 0 } });
    expect(store.list({ org: 'default', projId: '' })?.size).toBe(2);
  }, 120_000);
});
