// Log record framing and body encoding. Layout of one record (all integers little-endian):
//
//   offset 0   u32  body length in bytes (at most LOG_RECORD_BODY_BYTES_MAX)
//   offset 4   u32  CRC-32 (node:zlib crc32) of bytes [8, 16 + body length): the seq and the body
//                    (small frames compute the same value in JS, see crc32Range)
//   offset 8   u64  seq: 1, 2, 3, ... without gaps across all segments (always below 2^53)
//   offset 16  body msgpack map { org, projId, op: 'add'|'remove'|'drop', numbers, ts, keyId }
//                    plus, when the change has them, the history fields s, r, q (below)
//
// `numbers` is a msgpack bin of the change's sorted numbers as Float64 little-endian (8 bytes per
// number, decoded without parsing). A record of LOG_RECORD_DELTA_NUMBERS_MIN numbers or more (bulk
// changes) holds `count` and `deltas` instead: varint differences (number-deltas.ts, about 1 byte a
// number). `projId` '' is the master list; `ts` is milliseconds since the epoch; `keyId` is the id
// (never the secret) of the API key, or null. A change split over several records has `more: true`
// on all of them but its last (absent otherwise): readers apply it only once the last one is read
// (src/persist/commit-assembler.ts), so it is all there or not at all. The CRC covers the seq so a
// record copied to the wrong position is caught, and the length is bounded so a corrupt length is
// recognised without reading gigabytes. A `drop` record forgets a project list whole: its
// `numbers` is empty, it never has `more`, and it never names the master list. The history fields
// are what the client said about the change (src/history/change-meta.ts), each absent when not
// given, so records without them are what they always were: `s` the source (a token), `r` the
// reason (text), `q` how many ms before `ts` the consumer asked (`ts - requestedAt`, an integer: a
// few bytes where the instant itself takes nine). Keys of one letter, because a change's history
// is kept for years and the long keys were a third of such a record. The first version spelled them
// `source`, `reason` and `requestedAt` (ms since the epoch): those records still decode, and a
// record decoded from that spelling is encoded in it again, so a log copied record by record (a
// replicated standby catching up) keeps its bytes and its hash chain. `requestedAt` is also the
// spelling when `ts - requestedAt` would not give requestedAt back exactly (a fractional `ts`, which
// idnc never writes). `import` ({ sha256: bin 32, name, bytes, count }, plus `part` and `parts`
// when the change is one of several that sent one input) names a bulk import's input; only the
// last record of its change has it, and such a record is always packed by msgpackr (as bulk
// records are), so the hand-written path never sees it.

import { crc32 } from 'node:zlib';
import { pack, unpack } from 'msgpackr';
import { AssertionError } from '../assert.js';
import { HISTORY_IMPORT_NAME_CHARS_MAX, HISTORY_REASON_CHARS_MAX, HISTORY_SOURCE_CHARS_MAX, LOG_RECORD_BODY_BYTES_MAX, LOG_RECORD_DELTA_NUMBERS_MIN, LOG_RECORD_HEADER_BYTES } from '../constants.js';
import { DataCorruptError } from '../errors.js';
import { decodeDeltas, encodeDeltas } from './number-deltas.js';
import { checkListAddress } from '../store/list-id.js';

export type LogOperation = 'add' | 'remove' | 'drop';

export interface LogChange {
  readonly op: LogOperation;
  readonly org: string;
  /** '' for the organisation's master list. */
  readonly projId: string;
  /** Sorted ascending. */
  readonly numbers: Float64Array;
  readonly ts: number;
  readonly keyId: string | null;
  /** How the consumer asked (a token); absent: not given. */
  readonly source?: string;
  /** Free text, at most HISTORY_REASON_CHARS_MAX characters; absent: not given. */
  readonly reason?: string;
  /** When the consumer asked, ms since the epoch; absent: not given. */
  readonly requestedAt?: number;
  /** The input of a bulk import, on the last record of its change only; absent: not an import. */
  readonly import?: ImportMeta;
  /** True on every record of a multi-record change except its last. */
  readonly more?: boolean;
}

/**
 * A bulk import's input as its history event names it: SHA-256 (hex) of its raw bytes, name, size,
 * and the numbers the change named; or, for a change that is part `part` of `parts` of an input sent
 * in several changes, the whole input's numbers.
 */
export interface ImportMeta {
  readonly sha256: string;
  readonly name: string;
  readonly bytes: number;
  readonly count: number;
  readonly part?: number;
  readonly parts?: number;
}

/** A name an import event may show: no control characters (it is printed), at most the limit. */
export function isImportName(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= HISTORY_IMPORT_NAME_CHARS_MAX && !/[\u0000-\u001f\u007f]/.test(value);
}

/**
 * A change's source: 1 to HISTORY_SOURCE_CHARS_MAX of a-z 0-9 _ -. A loop, where /^[a-z0-9_-]{1,32}$/
 * cost about twice as much on every change that names a source and every record a follower reads.
 */
export function isHistorySource(value: unknown): value is string {
  if (typeof value !== 'string' || value.length === 0 || value.length > HISTORY_SOURCE_CHARS_MAX) return false;
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    const allowed = (code >= 0x61 && code <= 0x7a) || (code >= 0x30 && code <= 0x39) || code === 0x5f || code === 0x2d;
    if (!allowed) return false;
  }
  return true;
}

export interface LogRecord extends LogChange {
  readonly seq: number;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function numbersToBytes(numbers: Float64Array): Buffer {
  if (LITTLE_ENDIAN) return Buffer.from(numbers.buffer, numbers.byteOffset, numbers.byteLength);
  const bytes = Buffer.allocUnsafe(numbers.length * 8);
  for (let i = 0; i < numbers.length; i++) bytes.writeDoubleLE(numbers[i]!, i * 8);
  return bytes;
}

function bytesToNumbers(bytes: Uint8Array): Float64Array {
  const numbers = new Float64Array(bytes.length / 8);
  if (LITTLE_ENDIAN) new Uint8Array(numbers.buffer).set(bytes);
  else {
    const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let i = 0; i < numbers.length; i++) numbers[i] = view.readDoubleLE(i * 8);
  }
  return numbers;
}

/** Records of this many numbers or more carry varint deltas (bulk changes) and are packed by msgpackr. */
function isBulk(change: LogChange): boolean {
  return change.numbers.length >= LOG_RECORD_DELTA_NUMBERS_MIN || change.import !== undefined;
}

/** Encodes one framed record into a fresh buffer. */
export function encodeRecord(seq: number, change: LogChange): Buffer {
  return isBulk(change) ? encodeBulkRecord(seq, change) : encodeSmallRecords(seq, [change], 0, 1);
}

/**
 * Encodes the framed records of consecutive seqs (firstSeq, firstSeq + 1, ...) for one write. Runs
 * of ordinary records share one buffer (a group commit of 64 single adds is one buffer, encoded
 * without msgpackr); a bulk record gets its own, so a 100M-number import is never copied twice.
 * `scratch`, when given and large enough, holds the first run: the result is then only valid until
 * the caller reuses that scratch (the log writer's one batch in flight).
 */
export function encodeRecords(firstSeq: number, changes: readonly LogChange[], scratch?: Buffer): Buffer[] {
  const frames: Buffer[] = [];
  let runStart = 0;
  for (let i = 0; i <= changes.length; i++) {
    if (i < changes.length && !isBulk(changes[i]!)) continue;
    if (i > runStart) frames.push(encodeSmallRecords(firstSeq + runStart, changes, runStart, i, frames.length === 0 ? scratch : undefined));
    if (i < changes.length) frames.push(encodeBulkRecord(firstSeq + i, changes[i]!));
    runStart = i + 1;
  }
  return frames;
}

function encodeBulkRecord(seq: number, change: LogChange): Buffer {
  const body = pack({
    org: change.org,
    projId: change.projId,
    op: change.op,
    count: change.numbers.length,
    deltas: encodeDeltas(change.numbers),
    ts: change.ts,
    keyId: change.keyId,
    ...historyFieldsBody(change),
    ...(change.import === undefined ? {} : { import: packImport(change.import) }),
    ...(change.more === true ? { more: true } : {}),
  });
  checkBodyLength(body.length);
  const frame = Buffer.allocUnsafe(LOG_RECORD_HEADER_BYTES + body.length);
  body.copy(frame, LOG_RECORD_HEADER_BYTES);
  writeFrameHeader(frame, viewOf(frame), 0, seq, body.length);
  return frame;
}

/** The history fields of a bulk body as the hand-written path writes them (keys and order). */
function historyFieldsBody(change: LogChange): Record<string, unknown> {
  const fields: Record<string, unknown> = {};
  const { source, reason, requestedAt } = change;
  const long = LONG_SPELLED.has(change);
  if (source !== undefined) fields[long ? 'source' : 's'] = source;
  if (reason !== undefined) fields[long ? 'reason' : 'r'] = reason;
  if (requestedAt !== undefined) {
    const before = long ? null : requestedBeforeMs(change.ts, requestedAt);
    if (before === null) fields.requestedAt = requestedAt;
    else fields.q = before;
  }
  return fields;
}

function packImport(meta: ImportMeta): Record<string, unknown> {
  const packed = { sha256: Buffer.from(meta.sha256, 'hex'), name: meta.name, bytes: meta.bytes, count: meta.count };
  return meta.parts === undefined ? packed : { ...packed, part: meta.part, parts: meta.parts };
}

/** A body's `import`, checked as a writer would have written it (`part` and `parts` together, or neither). */
function importOf(value: unknown, more: unknown): ImportMeta {
  const { sha256, name, bytes, count, part, parts } = (value ?? {}) as Record<string, unknown>;
  const isCount = (n: unknown): n is number => Number.isSafeInteger(n) && (n as number) >= 0;
  if (!(sha256 instanceof Uint8Array) || sha256.length !== 32 || !isImportName(name) || !isCount(bytes) || !isCount(count) || more !== undefined) {
    throw new DataCorruptError('record body has an invalid import');
  }
  const meta = { sha256: Buffer.from(sha256).toString('hex'), name, bytes, count };
  if (part === undefined && parts === undefined) return meta;
  if (!isCount(part) || !isCount(parts) || part < 1 || part > parts) throw new DataCorruptError('record body has an invalid import part');
  return { ...meta, part, parts };
}

function checkBodyLength(length: number): void {
  if (length > LOG_RECORD_BODY_BYTES_MAX) throw new AssertionError(`log record body of ${length} bytes exceeds the limit`);
}

/**
 * Length, seq, then the CRC-32 of seq + body (the body is already in place after the header).
 * `view` is a DataView over `out`'s bytes, made once per buffer of frames.
 */
function writeFrameHeader(out: Buffer, view: DataView, start: number, seq: number, bodyLength: number): void {
  view.setUint32(start, bodyLength, true);
  view.setUint32(start + 8, seq >>> 0, true);
  view.setUint32(start + 12, Math.floor(seq / 2 ** 32), true);
  const crcEnd = start + LOG_RECORD_HEADER_BYTES + bodyLength;
  const crc = crcEnd - start - 8 <= CRC_TABLE_BYTES_MAX ? crc32Range(out, view, start + 8, crcEnd) : crc32(out.subarray(start + 8, crcEnd));
  view.setUint32(start + 4, crc, true);
}

function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * CRC-32 (the zlib polynomial, so equal to node:zlib crc32) of bytes [from, to), slicing-by-8 in JS:
 * for a record of one add (about 80 bytes) this beats the native call plus the view it needs. Each
 * 8 bytes are read as two little-endian words through `view` (over the same bytes): eight byte
 * reads, each bounds-checked, made the loop cost about a third more.
 */
function crc32Range(bytes: Uint8Array, view: DataView, from: number, to: number): number {
  const table = CRC_TABLES;
  let crc = -1;
  let i = from;
  for (; i + 8 <= to; i += 8) {
    const low = view.getInt32(i, true) ^ crc;
    const high = view.getInt32(i + 4, true);
    crc =
      table[7 * 256 + (low & 0xff)]! ^
      table[6 * 256 + ((low >>> 8) & 0xff)]! ^
      table[5 * 256 + ((low >>> 16) & 0xff)]! ^
      table[4 * 256 + (low >>> 24)]! ^
      table[3 * 256 + (high & 0xff)]! ^
      table[2 * 256 + ((high >>> 8) & 0xff)]! ^
      table[256 + ((high >>> 16) & 0xff)]! ^
      table[high >>> 24]!;
  }
  for (; i < to; i++) crc = table[(crc ^ bytes[i]!) & 0xff]! ^ (crc >>> 8);
  return (crc ^ -1) >>> 0;
}

/** Above this many bytes the native crc32 is faster than the JS loop. */
const CRC_TABLE_BYTES_MAX = 512;
/** Table k maps a byte to its CRC contribution k bytes further on (table 0 is the classic one). */
const CRC_TABLES = (() => {
  const tables = new Int32Array(8 * 256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    tables[n] = c;
  }
  for (let k = 1; k < 8; k++) {
    for (let n = 0; n < 256; n++) {
      const previous = tables[(k - 1) * 256 + n]!;
      tables[k * 256 + n] = (previous >>> 8) ^ tables[previous & 0xff]!;
    }
  }
  return tables;
})();

// The body of an ordinary record, written directly as the bytes msgpackr's pack() gives the same
// object (a map16 of the keys in this order; the tests compare the two byte for byte), because
// building and packing an object per record cost more than everything else an add does.
const KEY_ORG = msgpackString('org');
const KEY_PROJ_ID = msgpackString('projId');
const KEY_OP = msgpackString('op');
const KEY_NUMBERS = msgpackString('numbers');
const KEY_TS = msgpackString('ts');
const KEY_KEY_ID = msgpackString('keyId');
const KEY_MORE = msgpackString('more');
const LETTER_SOURCE = 's'.charCodeAt(0);
const LETTER_REASON = 'r'.charCodeAt(0);
const LETTER_REQUESTED_BEFORE = 'q'.charCodeAt(0);
const KEY_LONG_SOURCE = msgpackString('source');
const KEY_LONG_REASON = msgpackString('reason');
const KEY_REQUESTED_AT = msgpackString('requestedAt');
const MSGPACK_FIXSTR_1 = 0xa1;
const MSGPACK_MAP16 = 0xde;
const MSGPACK_NIL = 0xc0;
const MSGPACK_TRUE = 0xc3;
const MSGPACK_FLOAT64 = 0xcb;
/** Worst case of one string value: a str32 header and 3 UTF-8 bytes per UTF-16 unit. */
const stringBytesMax = (value: string): number => 5 + value.length * 3;

function msgpackString(value: string): Buffer {
  return Buffer.from(pack(value));
}

function encodeSmallRecords(firstSeq: number, changes: readonly LogChange[], from: number, to: number, scratch?: Buffer): Buffer {
  let bound = 0;
  for (let i = from; i < to; i++) {
    const { org, projId, keyId, numbers, source, reason } = changes[i]!;
    bound += LOG_RECORD_HEADER_BYTES + 64 + stringBytesMax(org) + stringBytesMax(projId) + stringBytesMax(keyId ?? '') + numbers.length * 8;
    if (source !== undefined) bound += stringBytesMax(source);
    if (reason !== undefined) bound += stringBytesMax(reason);
    if (source !== undefined || reason !== undefined || changes[i]!.requestedAt !== undefined) bound += HISTORY_FIELDS_KEY_BYTES + 9;
  }
  const out = scratch !== undefined && scratch.length >= bound ? scratch : Buffer.allocUnsafe(bound);
  const view = viewOf(out);
  let offset = 0;
  for (let i = from; i < to; i++) {
    const change = changes[i]!;
    const bodyStart = offset + LOG_RECORD_HEADER_BYTES;
    const bodyEnd = writeSmallBody(out, bodyStart, change);
    checkBodyLength(bodyEnd - bodyStart);
    writeFrameHeader(out, view, offset, firstSeq + i - from, bodyEnd - bodyStart);
    offset = bodyEnd;
  }
  return out.subarray(0, offset);
}

function writeSmallBody(out: Buffer, start: number, change: LogChange): number {
  let offset = start;
  out[offset] = MSGPACK_MAP16;
  const { source, reason, requestedAt } = change;
  const historyFields = (source === undefined ? 0 : 1) + (reason === undefined ? 0 : 1) + (requestedAt === undefined ? 0 : 1);
  out.writeUInt16BE((change.more === true ? 7 : 6) + historyFields, offset + 1);
  offset = writeKey(out, offset + 3, KEY_ORG);
  offset = writeString(out, offset, change.org);
  offset = writeKey(out, offset, KEY_PROJ_ID);
  offset = writeString(out, offset, change.projId);
  offset = writeKey(out, offset, KEY_OP);
  offset = writeString(out, offset, change.op);
  offset = writeKey(out, offset, KEY_NUMBERS);
  offset = writeNumbersBin(out, offset, change.numbers);
  offset = writeKey(out, offset, KEY_TS);
  offset = writeNumber(out, offset, change.ts);
  offset = writeKey(out, offset, KEY_KEY_ID);
  if (change.keyId === null) out[offset++] = MSGPACK_NIL;
  else offset = writeString(out, offset, change.keyId);
  if (historyFields > 0) offset = writeHistoryFields(out, offset, change);
  if (change.more === true) {
    offset = writeKey(out, offset, KEY_MORE);
    out[offset++] = MSGPACK_TRUE;
  }
  return offset;
}

/** Bytes of the three history keys at their longest, for the bound of a record's size. */
const HISTORY_FIELDS_KEY_BYTES = KEY_LONG_SOURCE.length + KEY_LONG_REASON.length + KEY_REQUESTED_AT.length;

/**
 * Records decoded from the first version's spelling of the history fields (`source`, `reason`,
 * `requestedAt`): encoded in it again, so that a record copied from another log keeps its bytes.
 * Weak, so the mark goes with the record; only records with history fields are ever in it.
 */
const LONG_SPELLED = new WeakSet<LogChange>();
/** False until a record is put in LONG_SPELLED: the writer's own records then skip the lookup. */
let longSpelledDecoded = false;

/** `ts - requestedAt` when it gives requestedAt back exactly (always, for the integer ms idnc writes), else null. */
function requestedBeforeMs(ts: number, requestedAt: number): number | null {
  const before = ts - requestedAt;
  return Number.isSafeInteger(before) && ts - before === requestedAt ? before : null;
}

function writeHistoryFields(out: Buffer, start: number, change: LogChange): number {
  if (longSpelledDecoded && LONG_SPELLED.has(change)) return writeLongHistoryFields(out, start, change);
  let offset = start;
  const { source, reason, requestedAt } = change;
  if (source !== undefined) {
    offset = writeLetterKey(out, offset, LETTER_SOURCE);
    offset = writeString(out, offset, source);
  }
  if (reason !== undefined) {
    offset = writeLetterKey(out, offset, LETTER_REASON);
    offset = writeString(out, offset, reason);
  }
  if (requestedAt !== undefined) {
    const before = requestedBeforeMs(change.ts, requestedAt);
    if (before === null) {
      offset = writeKey(out, offset, KEY_REQUESTED_AT);
      offset = writeNumber(out, offset, requestedAt);
    } else {
      offset = writeLetterKey(out, offset, LETTER_REQUESTED_BEFORE);
      offset = writeInteger(out, offset, before);
    }
  }
  return offset;
}

/** The first version's spelling, for records decoded from it (LONG_SPELLED). */
function writeLongHistoryFields(out: Buffer, start: number, change: LogChange): number {
  let offset = start;
  if (change.source !== undefined) {
    offset = writeKey(out, offset, KEY_LONG_SOURCE);
    offset = writeString(out, offset, change.source);
  }
  if (change.reason !== undefined) {
    offset = writeKey(out, offset, KEY_LONG_REASON);
    offset = writeString(out, offset, change.reason);
  }
  if (change.requestedAt !== undefined) {
    offset = writeKey(out, offset, KEY_REQUESTED_AT);
    offset = writeNumber(out, offset, change.requestedAt);
  }
  return offset;
}

/** A key of one ASCII letter (a fixstr of length 1): two stores, where writeKey loops over a buffer. */
function writeLetterKey(out: Buffer, offset: number, letter: number): number {
  out[offset] = MSGPACK_FIXSTR_1;
  out[offset + 1] = letter;
  return offset + 2;
}

function writeKey(out: Buffer, offset: number, key: Buffer): number {
  for (let i = 0; i < key.length; i++) out[offset + i] = key[i]!;
  return offset + key.length;
}

function writeString(out: Buffer, offset: number, value: string): number {
  if (value.length < 32) {
    let ascii = true;
    for (let i = 0; i < value.length; i++) {
      const code = value.charCodeAt(i);
      if (code >= 0x80) {
        ascii = false;
        break;
      }
      out[offset + 1 + i] = code;
    }
    if (ascii) {
      out[offset] = 0xa0 | value.length;
      return offset + 1 + value.length;
    }
  }
  const length = Buffer.byteLength(value, 'utf8');
  const headerBytes = length < 0x20 ? 1 : length < 0x100 ? 2 : length < 0x10000 ? 3 : 5;
  if (headerBytes === 1) out[offset] = 0xa0 | length;
  else if (headerBytes === 2) out.writeUInt16BE(0xd900 | length, offset);
  else if (headerBytes === 3) {
    out[offset] = 0xda;
    out.writeUInt16BE(length, offset + 1);
  } else {
    out[offset] = 0xdb;
    out.writeUInt32BE(length, offset + 1);
  }
  out.write(value, offset + headerBytes, length, 'utf8');
  return offset + headerBytes + length;
}

/** The numbers as a msgpack bin of Float64 little-endian (a few are written in place, more copied). */
function writeNumbersBin(out: Buffer, offset: number, numbers: Float64Array): number {
  const length = numbers.length * 8;
  if (length < 0x100) {
    out[offset] = 0xc4;
    out[offset + 1] = length;
    offset += 2;
  } else if (length < 0x10000) {
    out[offset] = 0xc5;
    out.writeUInt16BE(length, offset + 1);
    offset += 3;
  } else {
    out[offset] = 0xc6;
    out.writeUInt32BE(length, offset + 1);
    offset += 5;
  }
  if (numbers.length <= NUMBERS_WRITTEN_IN_PLACE_MAX) {
    for (let i = 0; i < numbers.length; i++) out.writeDoubleLE(numbers[i]!, offset + i * 8);
  } else out.set(numbersToBytes(numbers), offset);
  return offset + length;
}

const NUMBERS_WRITTEN_IN_PLACE_MAX = 16;

/** Integers up to 2^32 as msgpack uints (as msgpackr writes them); anything else as a float64. */
function writeNumber(out: Buffer, offset: number, value: number): number {
  if (Number.isInteger(value) && value >= 0 && value < 2 ** 32) {
    if (value < 0x80) {
      out[offset] = value;
      return offset + 1;
    }
    if (value < 0x100) {
      out[offset] = 0xcc;
      out[offset + 1] = value;
      return offset + 2;
    }
    // Stored byte by byte: Buffer's writeUInt16BE/32BE check their arguments again on every call.
    if (value < 0x10000) {
      out[offset] = 0xcd;
      out[offset + 1] = value >>> 8;
      out[offset + 2] = value;
      return offset + 3;
    }
    out[offset] = 0xce;
    out[offset + 1] = value >>> 24;
    out[offset + 2] = value >>> 16;
    out[offset + 3] = value >>> 8;
    out[offset + 4] = value;
    return offset + 5;
  }
  out[offset] = MSGPACK_FLOAT64;
  out.writeDoubleBE(value, offset + 1);
  return offset + 9;
}

/** A safe integer as msgpackr writes it: as writeNumber from 0 up, int 8/16/32 below, float64 below -2^31. */
function writeInteger(out: Buffer, offset: number, value: number): number {
  if (value >= 0 || value < -(2 ** 31)) return writeNumber(out, offset, value);
  if (value >= -32) {
    out[offset] = value & 0xff;
    return offset + 1;
  }
  if (value >= -128) {
    out[offset] = 0xd0;
    out.writeInt8(value, offset + 1);
    return offset + 2;
  }
  if (value >= -32768) {
    out[offset] = 0xd1;
    out.writeInt16BE(value, offset + 1);
    return offset + 3;
  }
  out[offset] = 0xd2;
  out.writeInt32BE(value, offset + 1);
  return offset + 5;
}

/**
 * CRC-32 a record header claims, and the one its bytes have (frame = header + body). Small frames
 * are summed by the JS loop, as the encoder does: a walk of the hash chain checks every record, and
 * the native call with the views it needed cost about 15 % of the walk.
 */
export function frameChecksumMatches(frame: Uint8Array): boolean {
  const view = viewOf(frame);
  const crc = frame.length - 8 <= CRC_TABLE_BYTES_MAX ? crc32Range(frame, view, 8, frame.length) : crc32(frame.subarray(8));
  return view.getUint32(4, true) === crc;
}

/**
 * Decodes a body whose frame passed its checksum. A body that still does not decode (or names an
 * invalid list) was written by a buggy or foreign writer: the caller treats it as corruption.
 */
export function decodeBody(seq: number, body: Uint8Array): LogRecord {
  const value = unpack(body) as Record<string, unknown>;
  if (value === null || typeof value !== 'object') throw new DataCorruptError('record body is not a map');
  const { org, projId, op, ts, keyId, more } = value;
  if (op !== 'add' && op !== 'remove' && op !== 'drop') throw new DataCorruptError('record body has no valid op');
  if (typeof org !== 'string' || typeof projId !== 'string') throw new DataCorruptError('record body has no valid list');
  checkListAddress({ org, projId });

  if (typeof ts !== 'number') throw new DataCorruptError('record body has no valid ts');
  if (keyId !== null && typeof keyId !== 'string') throw new DataCorruptError('record body has no valid keyId');
  if (more !== undefined && more !== true) throw new DataCorruptError('record body has an invalid more flag');
  const decoded = numbersOf(value);
  if (!sortedTenDigitNumbers(decoded)) throw new DataCorruptError('record body numbers are not sorted 10-digit numbers');
  if (op === 'drop' && (decoded.length > 0 || more !== undefined || projId === '')) {
    throw new DataCorruptError('a drop record must name a project list and carry no numbers');
  }
  const record: LogRecord = more === true ? { seq, op, org, projId, numbers: decoded, ts, keyId, more } : { seq, op, org, projId, numbers: decoded, ts, keyId };
  const { s, r, q, source, reason, requestedAt } = value;
  if (s === undefined && r === undefined && q === undefined && source === undefined && reason === undefined && requestedAt === undefined && value.import === undefined) return record;
  return withHistoryFields(record, value);
}

/**
 * `record` with the history fields and import of its body, checked as a writer would have written
 * them; assigned, not spread (a follower decodes every record, and spreads are slow).
 */
function withHistoryFields(record: LogRecord, value: Record<string, unknown>): LogRecord {
  const { s, r, q, source, reason, requestedAt } = value;
  const withFields: { -readonly [K in keyof LogRecord]: LogRecord[K] } = record;
  const long = source !== undefined || reason !== undefined;
  if (long && (s !== undefined || r !== undefined || q !== undefined)) throw new DataCorruptError('record body spells its history fields two ways');
  // `requestedAt` alone was the first version's too (this one writes it beside s and r only).
  if (long || (requestedAt !== undefined && s === undefined && r === undefined)) {
    LONG_SPELLED.add(withFields);
    longSpelledDecoded = true;
  }
  const checkedSource = s ?? source;
  if (checkedSource !== undefined) {
    if (!isHistorySource(checkedSource)) throw new DataCorruptError('record body has an invalid source');
    withFields.source = checkedSource;
  }
  const checkedReason = r ?? reason;
  if (checkedReason !== undefined) {
    if (typeof checkedReason !== 'string' || checkedReason.length > HISTORY_REASON_CHARS_MAX) throw new DataCorruptError('record body has an invalid reason');
    withFields.reason = checkedReason;
  }
  if (q !== undefined || requestedAt !== undefined) withFields.requestedAt = requestedAtOf(record.ts, q, requestedAt);
  if (value.import !== undefined) withFields.import = importOf(value.import, value.more);
  return withFields;
}

/** A body's requestedAt, from `q` (ms before `ts`) or the instant itself; one of them is given. */
function requestedAtOf(ts: number, q: unknown, requestedAt: unknown): number {
  if (q !== undefined && requestedAt !== undefined) throw new DataCorruptError('record body spells requestedAt two ways');
  const ms = q === undefined ? requestedAt : typeof q === 'number' && Number.isSafeInteger(q) ? ts - q : NaN;
  if (typeof ms !== 'number' || !Number.isSafeInteger(ms) || ms < 0) throw new DataCorruptError('record body has an invalid requestedAt');
  return ms;
}

/** The numbers of a body: Float64 bytes, or a count with varint deltas. */
function numbersOf(value: Record<string, unknown>): Float64Array {
  const { numbers, count, deltas } = value;
  if (numbers !== undefined) {
    if (!(numbers instanceof Uint8Array) || numbers.length % 8 !== 0 || deltas !== undefined) throw new DataCorruptError('record body has no valid numbers');
    return bytesToNumbers(numbers);
  }
  if (!(deltas instanceof Uint8Array) || typeof count !== 'number' || !Number.isSafeInteger(count) || count < 0 || count > deltas.length) {
    throw new DataCorruptError('record body has no valid numbers');
  }
  return decodeDeltas(deltas, count);
}

const NUMBER_MIN = 2_000_000_000;
const NUMBER_LIMIT = 10_000_000_000;

function sortedTenDigitNumbers(numbers: Float64Array): boolean {
  let previous = 0;
  for (const number of numbers) {
    if (!Number.isInteger(number) || number < NUMBER_MIN || number >= NUMBER_LIMIT || number < previous) return false;
    previous = number;
  }
  return true;
}
