// Packs of archived segments (docs/history.md, docs/file-formats.md): the closed segments of one UTC
// day (or 32 MiB) in one immutable file, each member's bytes verbatim (so the hash chain, which is
// defined per segment, its proofs and verify are unchanged), then an index a query consults without
// decoding records: number keys -> record offsets for records of few numbers, (min, max) ranges for
// bulk ones (an import's records are sorted and disjoint), list drops, a sparse time table, and each
// member's Merkle root and last record hash (evidence steps over a member without reading it).
// Five years are then about 2,000 files instead of 250,000, a query reads the one record that can
// hold its number, and an import costs its log bytes plus a few bytes a record.

import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import { pack as msgpack, unpack } from 'msgpackr';
import { HISTORY_PACK_DELTA_BLOCK_NUMBERS, HISTORY_PACK_KEYED_NUMBERS_MAX, HISTORY_PACK_TIME_BLOCK_RECORDS, LOG_RECORD_BODY_BYTES_MAX, LOG_RECORD_HEADER_BYTES, LOG_SEGMENT_HEADER_BYTES } from '../constants.js';
import { DataCorruptError } from '../errors.js';
import type { SegmentFile } from '../persist/data-dir.js';
import type { PersistFileSystem } from '../persist/file-system.js';
import { decodeBody, frameChecksumMatches, type ImportMeta, type LogRecord } from '../persist/record.js';
import { decodeState, encodeState, HASH_BYTES, pushRecord, rootOfPeaks, sameState, type ChainState } from './chain.js';
import type { ListDrop } from './segment-summary.js';
import { writeFileAtomically } from '../persist/atomic-file.js';

const PACK_MAGIC = Buffer.from('IDNCPAK1', 'latin1');
const PACK_FORMAT = 2;
/** magic (8) + u32 format + u32 reserved, as a segment's header. */
export const PACK_HEADER_BYTES = 16;
/** u64 index offset + u32 CRC-32 of the index + the magic's last 4 bytes. */
const PACK_FOOTER_BYTES = 16;
const PACK_PATTERN = /^pack-(\d{16})\.idncpack$/;
/** A first read of a record: most single changes fit, a larger one costs a second read. */
const RECORD_FIRST_READ_BYTES = 4096;
/** A first read of a pack's end: its footer and the whole index of most packs (a day of 8,000 single changes' is about 90 KB). */
const INDEX_FIRST_READ_BYTES = 128 * 1024;
/** Buffers for those first reads, reused (one per read under way): a new one per pack made the collector run all along a listing. */
const scratchBuffers: Buffer[] = [];

export interface PackMember {
  readonly firstSeq: number;
  /** firstSeq - 1 when the member holds no record. */
  readonly lastSeq: number;
  /** Where the member's segment header is in the pack, and its bytes. */
  readonly offset: number;
  readonly bytes: number;
  readonly firstTs: number | null;
  readonly lastTs: number | null;
  /** The name the member had as a segment file (for messages). */
  readonly name: string;
  /** The chain after the member, when the pack's stored state reaches it: evidence steps over it without reading it. */
  readonly end?: MemberEnd;
}

/**
 * What the hash chain needs to step over a member without its records: its Merkle root R_k (the
 * roots' chain goes on as SHA-256(C_(k-1) || R_k)) and the hash of its last record (the next
 * segment's first record covers it). Rebuilt from the records and compared by `idnc verify`.
 */
export interface MemberEnd {
  readonly root: Uint8Array;
  readonly hash: Uint8Array;
}

/**
 * Where each block of HISTORY_PACK_DELTA_BLOCK_NUMBERS numbers starts in a bulk record's varint
 * deltas: the number just before the block (0 for the first) and the byte offset of its first
 * delta, so a lookup scans one block instead of the record.
 */
export interface DeltaBlocks {
  readonly before: Float64Array;
  readonly bytes: Uint32Array;
  /** Where the deltas are in the record, and the record's other fields: a lookup reads one block, not the record. */
  readonly located: LocatedDeltas | null;
}

/** A bulk record's deltas located in its frame, with what its event needs (rebuilt and compared by `idnc verify`). */
export interface LocatedDeltas {
  readonly seq: number;
  /** SHA-256 of the record's frame, hex: its event's `hash`. */
  readonly hash: string;
  /** Offset of the deltas in the frame, their bytes, and how many numbers they hold. */
  readonly offset: number;
  readonly bytes: number;
  readonly count: number;
  /** The record's body without its numbers (msgpack), decoded by the log's decoder for its event. */
  readonly fields: Uint8Array;
}

export interface PackDrop extends ListDrop {
  readonly offset: number;
}

/** A pack's index, read once per process (the file never changes). */
export interface PackIndex {
  readonly path: string;
  readonly firstSeq: number;
  readonly lastSeq: number;
  readonly lastTs: number | null;
  readonly members: readonly PackMember[];
  /** The hash chain's state before the pack's first record, when known. */
  readonly chainBefore?: ChainState;
  readonly drops: readonly PackDrop[];
  /** Ascending keys (number modulo 2^32) of records with few numbers, and each key's record offset. */
  readonly keys: Uint32Array;
  readonly keyOffsets: Uint32Array;
  /** Records with many numbers: the range of their numbers, offset, and the change's import (from its last record). */
  readonly rangeMin: Float64Array;
  readonly rangeMax: Float64Array;
  readonly rangeOffsets: Uint32Array;
  readonly rangeImports: readonly (ImportMeta | null)[];
  /** Per range: where each block of its varint deltas starts (null: its numbers are not deltas). */
  readonly rangeBlocks: readonly (DeltaBlocks | null)[];
  /** Block starts: the ts of the block's first record and its offset, ascending by offset. */
  readonly times: Float64Array;
  readonly timeOffsets: Uint32Array;
}

export function packPath(dir: string, firstSeq: number): string {
  return path.join(dir, `pack-${String(firstSeq).padStart(16, '0')}.idncpack`);
}

/** The first seq a pack file's name gives, or null when the name is not a pack's. */
export function packFirstSeq(name: string): number | null {
  const match = PACK_PATTERN.exec(name);
  return match === null ? null : Number(match[1]);
}

const KEY_MODULUS = 2 ** 32;

function u32Bytes(values: readonly number[]): Buffer {
  const out = Buffer.alloc(values.length * 4);
  for (let i = 0; i < values.length; i++) out.writeUInt32LE(values[i]!, i * 4);
  return out;
}

function locatedOf(value: unknown[] | null | undefined): LocatedDeltas | null {
  if (!Array.isArray(value)) return null;
  const [seq, hash, offset, bytes, count, fields] = value as [number, Uint8Array, number, number, number, Uint8Array];
  if (!(hash instanceof Uint8Array) || !(fields instanceof Uint8Array)) throw new DataCorruptError('pack index has no valid delta blocks');
  return { seq, hash: Buffer.from(hash).toString('hex'), offset, bytes, count, fields };
}

function f64Array(bytes: Uint8Array): Float64Array {
  if (bytes.length % 8 !== 0) throw new DataCorruptError('pack index has no valid delta blocks');
  const copy = new Uint8Array(bytes);
  return new Float64Array(copy.buffer, 0, copy.length / 8);
}

function u32Array(bytes: unknown, what: string): Uint32Array {
  if (!(bytes instanceof Uint8Array) || bytes.length % 4 !== 0) throw new DataCorruptError(`pack index has no valid ${what}`);
  const copy = new Uint8Array(bytes);
  return new Uint32Array(copy.buffer, 0, copy.length / 4);
}

/** Each valid record of a segment's bytes with its offset there; stops at the first that is not whole and valid. */
export function forEachFrame(bytes: Buffer, firstSeq: number, onRecord: (record: LogRecord, frame: Buffer, offset: number) => void): number {
  let offset = LOG_SEGMENT_HEADER_BYTES;
  let seq = firstSeq;
  while (bytes.length - offset >= LOG_RECORD_HEADER_BYTES) {
    const length = bytes.readUInt32LE(offset);
    if (length > LOG_RECORD_BODY_BYTES_MAX || bytes.length - offset < LOG_RECORD_HEADER_BYTES + length) break;
    const frame = bytes.subarray(offset, offset + LOG_RECORD_HEADER_BYTES + length);
    if (!frameChecksumMatches(frame) || Number(frame.readBigUInt64LE(8)) !== seq) break;
    let record: LogRecord;
    try {
      record = decodeBody(seq, frame.subarray(LOG_RECORD_HEADER_BYTES));
    } catch {
      break;
    }
    onRecord(record, frame, offset);
    offset += frame.length;
    seq++;
  }
  return seq - 1;
}

/** A member to pack: a closed archived segment and the chain state its summary stored before it. */
export interface PackInput {
  readonly segment: SegmentFile;
  readonly chainBefore?: ChainState;
}

interface Builder {
  members: PackMember[];
  keyed: [number, number][];
  ranges: [number, number, number, ImportMeta | null, Buffer | null, Buffer | null, unknown[] | null][];
  drops: PackDrop[];
  times: [number, number][];
  state: ChainState | undefined;
  /** Whether `state` comes from the pack's first member's stored state: only then are members' ends stored (verify rebuilds from that one). */
  anchored: boolean;
}

/** Indexes one member's records (at `base` in the pack) and pushes them through the chain, checking the state its summary stored. */
function indexMember(build: Builder, input: PackInput, bytes: Buffer, base: number): void {
  const { segment } = input;
  const name = path.basename(segment.path);
  if (input.chainBefore !== undefined) {
    if (build.state !== undefined && !sameState(build.state, input.chainBefore)) {
      throw new DataCorruptError(`the hash chain recomputed up to history/${name} differs from the one its summary stored: not packed; run \`idnc verify\``);
    }
    if (build.state === undefined) {
      build.state = input.chainBefore;
      build.anchored = build.members.length === 0;
    }
  }
  if (build.state !== undefined && build.state.seq !== segment.firstSeq - 1) {
    build.state = undefined;
    build.anchored = false;
  }
  let firstTs: number | null = null;
  let lastTs: number | null = null;
  let open: number[] = [];
  let index = 0;
  const lastSeq = forEachFrame(bytes, segment.firstSeq, (record, frame, offset) => {
    const at = base + offset;
    firstTs ??= record.ts;
    lastTs = record.ts;
    if (index++ % HISTORY_PACK_TIME_BLOCK_RECORDS === 0) build.times.push([record.ts, at]);
    if (build.state !== undefined) build.state = pushRecord(build.state, frame, record.ts, record.seq === segment.firstSeq);
    const { numbers } = record;
    if (record.op === 'drop') build.drops.push({ seq: record.seq, ts: record.ts, org: record.org, projId: record.projId, offset: at });
    else if (numbers.length <= HISTORY_PACK_KEYED_NUMBERS_MAX && record.more !== true) for (const number of numbers) build.keyed.push([number % KEY_MODULUS, at]);
    else {
      let min = Number.POSITIVE_INFINITY;
      let max = Number.NEGATIVE_INFINITY;
      for (let i = 0; i < numbers.length; i++) {
        min = Math.min(min, numbers[i]!);
        max = Math.max(max, numbers[i]!);
      }
      const blocks = deltaBlocks(frame, record.seq);
      build.ranges.push([min, max, at, record.import ?? null, blocks?.before ?? null, blocks?.bytes ?? null, blocks?.located ?? null]);
      if (record.more === true) open.push(build.ranges.length - 1);
    }
    if (record.more !== true) {
      // A split change's records are consecutive: its import, named on its last record, is every record's.
      for (const range of open) build.ranges[range]![3] = record.import ?? null;
      open = [];
    }
  });
  const { state } = build;
  const closed = build.anchored && state !== undefined && lastSeq >= segment.firstSeq && state.seq === lastSeq && state.segmentFirstSeq === segment.firstSeq;
  const end = closed ? { end: { root: rootOfPeaks(state.peaks), hash: state.hash } } : {};
  build.members.push({ firstSeq: segment.firstSeq, lastSeq, offset: base, bytes: bytes.length, firstTs, lastTs, name, ...end });
}

/** The block table of a bulk record's deltas (as bins: f64 LE numbers before, u32 LE offsets), or null when its numbers are not deltas. */
function deltaBlocks(frame: Buffer, seq: number): { before: Buffer; bytes: Buffer; located: unknown[] | null } | null {
  const value = unpack(frame.subarray(LOG_RECORD_HEADER_BYTES)) as Record<string, unknown> | null;
  if (value === null || typeof value !== 'object' || !(value.deltas instanceof Uint8Array) || typeof value.count !== 'number') return null;
  const { deltas, count, ...fields } = value;
  // The deltas are a bin of the body: found by their bytes, and kept only where they are whole and the first such.
  const where = deltas.length === 0 ? -1 : frame.indexOf(Buffer.from(deltas.subarray(0, 64)), LOG_RECORD_HEADER_BYTES);
  const found = where !== -1 && frame.subarray(where, where + deltas.length).equals(deltas);
  const located = found ? [seq, createHash('sha256').update(frame).digest(), where, deltas.length, count, msgpack({ ...fields, deltas: new Uint8Array(0), count: 0 })] : null;
  const before: number[] = [];
  const bytes: number[] = [];
  let number = 0;
  let at = 0;
  for (let i = 0; i < count && at < deltas.length; i++) {
    if (i % HISTORY_PACK_DELTA_BLOCK_NUMBERS === 0) {
      before.push(number);
      bytes.push(at);
    }
    let scale = 1;
    let byte: number;
    do {
      byte = deltas[at++]!;
      number += (byte & 0x7f) * scale;
      scale *= 0x80;
    } while ((byte & 0x80) !== 0 && at < deltas.length);
  }
  return { before: Buffer.from(Float64Array.from(before).buffer), bytes: u32Bytes(bytes), located };
}

function encodeIndex(build: Builder, chainBefore: ChainState | undefined): Buffer {
  const { members } = build;
  const firstSeq = members[0]!.firstSeq;
  const tsBase = build.times[0]?.[0] ?? 0;
  const keyed = build.keyed.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const tsOf = (ts: number | null): number | null => (ts === null ? null : ts - tsBase);
  return msgpack({
    format: PACK_FORMAT,
    firstSeq,
    tsBase,
    // [first seq - the pack's, records, bytes, first ts - tsBase, last ts - tsBase, R_k || h of the last record (or nil)]
    members: members.map((m) => [m.firstSeq - firstSeq, m.lastSeq - m.firstSeq + 1, m.bytes, tsOf(m.firstTs), tsOf(m.lastTs), m.end === undefined ? null : Buffer.concat([m.end.root, m.end.hash])]),
    keys: u32Bytes(keyed.map((entry) => entry[0])),
    keyOffsets: u32Bytes(keyed.map((entry) => entry[1])),
    ranges: build.ranges,
    drops: build.drops.map((drop) => [drop.seq, drop.ts, drop.org, drop.projId, drop.offset]),
    times: build.times.map((entry) => entry[0] - tsBase),
    timeOffsets: u32Bytes(build.times.map((entry) => entry[1])),
    ...(chainBefore === undefined ? {} : { chainBefore: encodeState(chainBefore) }),
  });
}

/**
 * Writes the pack of `inputs` (consecutive closed segments, ascending) into `dir`, durably: a
 * temporary file, fdatasync, rename, directory flush. The members are not touched; the caller
 * removes them once this resolves. Returns the pack's path.
 */
export async function writePack(fileSystem: PersistFileSystem, dir: string, inputs: readonly PackInput[]): Promise<string> {
  const build: Builder = { members: [], keyed: [], ranges: [], drops: [], times: [], state: undefined, anchored: false };
  const parts: Buffer[] = [];
  const header = Buffer.alloc(PACK_HEADER_BYTES);
  PACK_MAGIC.copy(header, 0);
  header.writeUInt32LE(PACK_FORMAT, 8);
  parts.push(header);
  let offset = PACK_HEADER_BYTES;
  for (const input of inputs) {
    const previous = build.members.at(-1);
    if (previous !== undefined && previous.lastSeq !== input.segment.firstSeq - 1) {
      throw new DataCorruptError(`history/${path.basename(input.segment.path)} does not follow seq ${previous.lastSeq}: not packed; run \`idnc verify\``);
    }
    const bytes = await fs.promises.readFile(input.segment.path);
    indexMember(build, input, bytes, offset);
    parts.push(bytes);
    offset += bytes.length;
  }
  const index = encodeIndex(build, inputs[0]!.chainBefore);
  const footer = Buffer.alloc(PACK_FOOTER_BYTES);
  footer.writeBigUInt64LE(BigInt(offset), 0);
  footer.writeUInt32LE(crc32(index), 8);
  PACK_MAGIC.copy(footer, 12, 4);
  parts.push(index, footer);
  const file = packPath(dir, inputs[0]!.segment.firstSeq);
  await writeFileAtomically(fileSystem, file, parts);
  return file;
}

/**
 * Whether the index stored in the pack `file` is the one its members' records give (and the chain
 * state stored before the pack): `idnc verify` checks it, since a changed index with its CRC-32
 * recomputed would hide records from queries without changing a byte the hash chain covers.
 */
export async function packIndexMatches(file: string): Promise<boolean> {
  const index = await readPackIndex(file);
  const bytes = await fs.promises.readFile(file);
  const stored = bytes.subarray(Number(bytes.readBigUInt64LE(bytes.length - PACK_FOOTER_BYTES)), bytes.length - PACK_FOOTER_BYTES);
  const build: Builder = { members: [], keyed: [], ranges: [], drops: [], times: [], state: undefined, anchored: false };
  try {
    for (const [i, member] of index.members.entries()) {
      const input = { segment: { firstSeq: member.firstSeq, path: member.name }, ...(i === 0 && index.chainBefore !== undefined ? { chainBefore: index.chainBefore } : {}) };
      indexMember(build, input, bytes.subarray(member.offset, member.offset + member.bytes), member.offset);
    }
  } catch {
    return false;
  }
  return encodeIndex(build, index.chainBefore).equals(stored);
}

/** Bytes [from, to) of an open file (fewer at its end), into `into` when given (it must hold them). */
export async function readAt(handle: fs.promises.FileHandle, from: number, to: number, into?: Buffer): Promise<Buffer> {
  const buffer = into === undefined ? Buffer.allocUnsafe(Math.max(0, to - from)) : into.subarray(0, Math.max(0, to - from));
  let filled = 0;
  while (filled < buffer.length) {
    const { bytesRead } = await handle.read(buffer, filled, buffer.length - filled, from + filled);
    if (bytesRead === 0) break;
    filled += bytesRead;
  }
  return buffer.subarray(0, filled);
}

/** A pack's index read back and checked; a pack that fails is corruption (its members are gone). */
export async function readPackIndex(file: string): Promise<PackIndex> {
  const handle = await fs.promises.open(file, 'r');
  try {
    const { size } = await handle.stat();
    // The footer and, most often, the whole index in one read (the header with them in a small pack).
    const tailFrom = Math.max(0, size - INDEX_FIRST_READ_BYTES);
    const scratch = scratchBuffers.pop() ?? Buffer.allocUnsafeSlow(INDEX_FIRST_READ_BYTES);
    try {
      return await readIndexFrom(handle, file, size, tailFrom, scratch);
    } finally {
      scratchBuffers.push(scratch);
    }
  } finally {
    await handle.close();
  }
}

/** The index of an open pack of `size` bytes, its end read into `scratch` from `tailFrom`. */
async function readIndexFrom(handle: fs.promises.FileHandle, file: string, size: number, tailFrom: number, scratch: Buffer): Promise<PackIndex> {
  const name = path.basename(file);
  const [tail, head] = await Promise.all([readAt(handle, tailFrom, size, scratch), tailFrom < PACK_HEADER_BYTES ? null : readAt(handle, 0, PACK_HEADER_BYTES)]);
  const header = head ?? tail.subarray(0, PACK_HEADER_BYTES);
  const footer = tail.subarray(Math.max(0, tail.length - PACK_FOOTER_BYTES));
  const indexOffset = footer.length === PACK_FOOTER_BYTES ? Number(footer.readBigUInt64LE(0)) : -1;
  if (!header.subarray(0, 8).equals(PACK_MAGIC) || indexOffset < PACK_HEADER_BYTES || indexOffset > size - PACK_FOOTER_BYTES || !footer.subarray(12).equals(PACK_MAGIC.subarray(4))) {
    throw new DataCorruptError(`history/${name} is not a whole pack (no header or footer); run \`idnc verify\``);
  }
  const stored = tail.subarray(0, tail.length - PACK_FOOTER_BYTES);
  // A copy of the index alone (the scratch buffer is reused; the index keeps views msgpack gives of its bins).
  const bytes = indexOffset >= tailFrom ? Buffer.from(stored.subarray(indexOffset - tailFrom)) : Buffer.concat([await readAt(handle, indexOffset, tailFrom), stored]);
  if (crc32(bytes) !== footer.readUInt32LE(8)) throw new DataCorruptError(`history/${name}: its index fails its CRC-32; run \`idnc verify\``);
  return decodeIndex(file, unpack(bytes) as Record<string, unknown>, indexOffset);
}

type MemberRow = [number, number, number, number | null, number | null, Uint8Array | null];

/** Per member in a MemberTable's columns: first seq, last seq, offset, bytes, first ts, last ts (NaN: none). */
const MEMBER_COLUMNS = 6;

/**
 * A pack's members as columns, made into PackMember objects only when first asked for: a query
 * reads the members of the few packs that hold its number, and a listing of two thousand packs
 * made about 200,000 objects (with their roots, hashes and names) that the collector then walked.
 */
class MemberTable {
  private made: readonly PackMember[] | null = null;

  constructor(private readonly columns: Float64Array, private readonly ends: Uint8Array, private readonly hasEnd: Uint8Array) {}

  get count(): number {
    return this.hasEnd.length;
  }

  lastSeq(): number {
    return this.columns[(this.count - 1) * MEMBER_COLUMNS + 1]!;
  }

  lastTs(): number | null {
    for (let i = this.count - 1; i >= 0; i--) {
      const ts = this.columns[i * MEMBER_COLUMNS + 5]!;
      if (!Number.isNaN(ts)) return ts;
    }
    return null;
  }

  members(): readonly PackMember[] {
    this.made ??= Array.from({ length: this.count }, (_, i) => this.member(i));
    return this.made;
  }

  private member(i: number): PackMember {
    const at = i * MEMBER_COLUMNS;
    const [firstSeq, lastSeq, offset, bytes, firstTs, lastTs] = this.columns.subarray(at, at + MEMBER_COLUMNS) as unknown as number[];
    const end = this.hasEnd[i] === 1 ? { end: { root: this.ends.subarray(i * 2 * HASH_BYTES, i * 2 * HASH_BYTES + HASH_BYTES), hash: this.ends.subarray(i * 2 * HASH_BYTES + HASH_BYTES, (i + 1) * 2 * HASH_BYTES) } } : {};
    return {
      firstSeq: firstSeq!, lastSeq: lastSeq!, offset: offset!, bytes: bytes!,
      firstTs: Number.isNaN(firstTs) ? null : firstTs!, lastTs: Number.isNaN(lastTs) ? null : lastTs!,
      name: `log-${String(firstSeq).padStart(16, '0')}.idnclog`, ...end,
    };
  }
}

/** The member rows of an index checked (each root and hash whole, the bytes adding up to the index's offset) into a table. */
function memberTable(name: string, rows: MemberRow[], firstSeq: number, tsBase: number, indexOffset: number): MemberTable {
  const columns = new Float64Array(rows.length * MEMBER_COLUMNS);
  const ends = new Uint8Array(rows.length * 2 * HASH_BYTES);
  const hasEnd = new Uint8Array(rows.length);
  let offset = PACK_HEADER_BYTES;
  for (let i = 0; i < rows.length; i++) {
    const [seqDelta, records, bytes, firstTs, lastTs, end] = rows[i]!;
    if (end !== null && (!(end instanceof Uint8Array) || end.length !== 2 * HASH_BYTES)) throw new DataCorruptError(`history/${name}: its index has no valid chain state after a member`);
    const at = i * MEMBER_COLUMNS;
    columns[at] = firstSeq + seqDelta;
    columns[at + 1] = firstSeq + seqDelta + records - 1;
    columns[at + 2] = offset;
    columns[at + 3] = bytes;
    columns[at + 4] = firstTs === null ? Number.NaN : tsBase + firstTs;
    columns[at + 5] = lastTs === null ? Number.NaN : tsBase + lastTs;
    if (end !== null) {
      ends.set(end, i * 2 * HASH_BYTES);
      hasEnd[i] = 1;
    }
    offset += bytes;
  }
  if (offset !== indexOffset) throw new DataCorruptError(`history/${name}: its index does not add up to its members' bytes`);
  return new MemberTable(columns, ends, hasEnd);
}

function decodeIndex(file: string, value: Record<string, unknown>, indexOffset: number): PackIndex {
  const name = path.basename(file);
  const firstSeq = value.firstSeq as number;
  const tsBase = value.tsBase as number;
  if (value.format !== PACK_FORMAT || firstSeq !== packFirstSeq(name) || !Array.isArray(value.members) || value.members.length === 0) {
    throw new DataCorruptError(`history/${name}: its index is not one of this version`);
  }
  const table = memberTable(name, value.members as MemberRow[], firstSeq, tsBase, indexOffset);
  const times = Float64Array.from(value.times as number[], (ts) => tsBase + ts);
  const ranges = value.ranges as [number, number, number, ImportMeta | null, Uint8Array | null, Uint8Array | null, unknown[] | null | undefined][];
  return {
    path: file,
    firstSeq,
    lastSeq: table.lastSeq(),
    lastTs: table.lastTs(),
    get members() {
      return table.members();
    },
    ...(value.chainBefore === undefined ? {} : { chainBefore: decodeState(value.chainBefore) }),
    drops: (value.drops as [number, number, string, string, number][]).map(([seq, ts, org, projId, at]) => ({ seq, ts, org, projId, offset: at })),
    keys: u32Array(value.keys, 'keys'),
    keyOffsets: u32Array(value.keyOffsets, 'key offsets'),
    rangeMin: Float64Array.from(ranges, (range) => range[0]),
    rangeMax: Float64Array.from(ranges, (range) => range[1]),
    rangeOffsets: Uint32Array.from(ranges, (range) => range[2]),
    rangeImports: ranges.map((range) => range[3]),
    rangeBlocks: ranges.map(([, , , , before, bytes, located]) => (before instanceof Uint8Array && bytes instanceof Uint8Array ? { before: f64Array(before), bytes: u32Array(bytes, 'delta blocks'), located: locatedOf(located) } : null)),
    times,
    timeOffsets: u32Array(value.timeOffsets, 'time offsets'),
  };
}

/** A record of a pack that may name a number: `bulk` when its range does (its numbers are then scanned, not decoded). */
export interface PackRead {
  readonly offset: number;
  readonly bulk: boolean;
  /** The bulk record's delta blocks, when it has them. */
  readonly blocks?: DeltaBlocks | null;
  /** The import of its change (a split change's records other than the last do not name it). */
  readonly import: ImportMeta | null;
}

/** The records of `pack` that may name `number`, ascending. */
export function offsetsFor(pack: PackIndex, number: number): PackRead[] {
  const found: PackRead[] = [];
  const key = number % KEY_MODULUS;
  const { keys } = pack;
  let low = 0;
  let high = keys.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (keys[middle]! < key) low = middle + 1;
    else high = middle;
  }
  for (let i = low; i < keys.length && keys[i] === key; i++) found.push({ offset: pack.keyOffsets[i]!, bulk: false, import: null });
  for (let i = 0; i < pack.rangeMin.length; i++) {
    if (pack.rangeMin[i]! <= number && number <= pack.rangeMax[i]!) found.push({ offset: pack.rangeOffsets[i]!, bulk: true, import: pack.rangeImports[i] ?? null, blocks: pack.rangeBlocks[i] ?? null });
  }
  return found.sort((a, b) => a.offset - b.offset);
}

/** The member of `pack` holding the byte at `offset`. */
export function memberAt(pack: PackIndex, offset: number): PackMember {
  const { members } = pack;
  let low = 0;
  let high = members.length - 1;
  while (low < high) {
    const middle = (low + high + 1) >>> 1;
    if (members[middle]!.offset <= offset) low = middle;
    else high = middle - 1;
  }
  return members[low]!;
}

/** The frame at `offset` of an open pack, checked (CRC-32, and a seq within its member). */
async function readFrameAt(handle: fs.promises.FileHandle, pack: PackIndex, offset: number): Promise<{ frame: Buffer; seq: number }> {
  let bytes = await readAt(handle, offset, offset + RECORD_FIRST_READ_BYTES);
  const length = bytes.length >= LOG_RECORD_HEADER_BYTES ? bytes.readUInt32LE(0) : -1;
  if (length >= 0 && length <= LOG_RECORD_BODY_BYTES_MAX && bytes.length < LOG_RECORD_HEADER_BYTES + length) bytes = await readAt(handle, offset, offset + LOG_RECORD_HEADER_BYTES + length);
  const frame = bytes.subarray(0, LOG_RECORD_HEADER_BYTES + length);
  const member = memberAt(pack, offset);
  const seq = frame.length >= LOG_RECORD_HEADER_BYTES ? Number(frame.readBigUInt64LE(8)) : -1;
  if (length < 0 || frame.length !== LOG_RECORD_HEADER_BYTES + length || !frameChecksumMatches(frame) || seq < member.firstSeq || seq > member.lastSeq) {
    throw new DataCorruptError(`history/${path.basename(pack.path)} at offset ${offset}: the record its index names fails its checks; run \`idnc verify\``);
  }
  return { frame, seq };
}

/** The record at `offset` of an open pack, checked. */
export async function readRecordAt(handle: fs.promises.FileHandle, pack: PackIndex, offset: number): Promise<{ record: LogRecord; frame: Buffer }> {
  const { frame, seq } = await readFrameAt(handle, pack, offset);
  return { record: decodeBody(seq, frame.subarray(LOG_RECORD_HEADER_BYTES)), frame };
}

/** Whether `count` varint deltas from `at`, added to `value`, reach `number`: scanned, stopping at it or past it. */
function deltasHold(deltas: Uint8Array, at: number, count: number, value: number, number: number): boolean {
  for (let i = 0; i < count && at < deltas.length; i++) {
    let scale = 1;
    let byte: number;
    do {
      byte = deltas[at++]!;
      value += (byte & 0x7f) * scale;
      scale *= 0x80;
    } while ((byte & 0x80) !== 0 && at < deltas.length);
    if (value >= number) return value === number;
  }
  return false;
}

/** The block of `blocks` that can hold `number`: the last whose number before is below it. */
function blockOf(blocks: DeltaBlocks, number: number): number {
  let low = 0;
  let high = blocks.before.length - 1;
  while (low < high) {
    const middle = (low + high + 1) >>> 1;
    if (blocks.before[middle]! < number) low = middle;
    else high = middle - 1;
  }
  return low;
}

/**
 * The bulk record at `read.offset` of an open pack if it names `number`, else null, without its
 * numbers, with its event's hash. With its deltas located by the index, one block of them is read
 * and scanned (the index is rebuilt from the records and compared by `idnc verify`); else the
 * frame is read and checked (CRC-32, seq), and its deltas scanned instead of decoded (a million
 * numbers decoded and checked cost tens of ms). Its other fields are decoded by the log's decoder.
 */
export async function readBulkRecordNaming(handle: fs.promises.FileHandle, pack: PackIndex, read: PackRead, number: number): Promise<{ record: LogRecord; hash: string } | null> {
  const blocks = read.blocks ?? null;
  const located = blocks?.located ?? null;
  if (blocks !== null && located !== null && blocks.before.length > 0) {
    const block = blockOf(blocks, number);
    const start = blocks.bytes[block]!;
    const end = blocks.bytes[block + 1] ?? located.bytes;
    const base = read.offset + located.offset;
    const deltas = await readAt(handle, base + start, base + end);
    const count = Math.min(HISTORY_PACK_DELTA_BLOCK_NUMBERS, located.count - block * HISTORY_PACK_DELTA_BLOCK_NUMBERS);
    if (!deltasHold(deltas, 0, count, blocks.before[block]!, number)) return null;
    return { record: decodeBody(located.seq, located.fields), hash: located.hash };
  }
  const { frame, seq } = await readFrameAt(handle, pack, read.offset);
  const hash = createHash('sha256').update(frame).digest('hex');
  const body = frame.subarray(LOG_RECORD_HEADER_BYTES);
  const value = unpack(body) as Record<string, unknown> | null;
  if (value !== null && typeof value === 'object' && value.deltas instanceof Uint8Array && typeof value.count === 'number') {
    const from = blocks === null || blocks.before.length === 0 ? { at: 0, first: 0, before: 0 } : (() => {
      const block = blockOf(blocks, number);
      return { at: blocks.bytes[block]!, first: block * HISTORY_PACK_DELTA_BLOCK_NUMBERS, before: blocks.before[block]! };
    })();
    if (!deltasHold(value.deltas, from.at, value.count - from.first, from.before, number)) return null;
    const { deltas: _deltas, count: _count, ...fields } = value;
    return { record: decodeBody(seq, msgpack({ ...fields, deltas: new Uint8Array(0), count: 0 })), hash };
  }
  const record = decodeBody(seq, body);
  return record.numbers.includes(number) ? { record, hash } : null;
}

/** The last seq of `pack` whose record's ts is at or before `atMs` (firstSeq - 1 when none). */
export async function lastSeqAtIn(pack: PackIndex, atMs: number): Promise<number> {
  const { times, timeOffsets } = pack;
  let low = 0;
  let high = times.length - 1;
  let block = -1;
  while (low <= high) {
    const middle = (low + high) >>> 1;
    if (times[middle]! <= atMs) {
      block = middle;
      low = middle + 1;
    } else high = middle - 1;
  }
  if (block === -1) return pack.firstSeq - 1;
  const start = timeOffsets[block]!;
  const member = memberAt(pack, start);
  const next = timeOffsets[block + 1];
  const end = next !== undefined && next < member.offset + member.bytes ? next : member.offset + member.bytes;
  const handle = await fs.promises.open(pack.path, 'r');
  let bytes: Buffer;
  try {
    bytes = await readAt(handle, start, end);
  } finally {
    await handle.close();
  }
  // The block's records, read as a segment whose header ends just before them.
  const firstSeq = Number(bytes.readBigUInt64LE(8));
  let last = firstSeq - 1;
  forEachFrame(Buffer.concat([Buffer.alloc(LOG_SEGMENT_HEADER_BYTES), bytes]), firstSeq, (record) => {
    if (record.ts <= atMs) last = record.seq;
  });
  return last;
}
