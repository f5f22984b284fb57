// Log record framing and body encoding. Layout of one record (all integers little-endian):
//
//   offset 0   u32  body length in bytes (at most LOG_RECORD_BODY_BYTES_MAX)
//   offset 4   u32  CRC-32 (node:zlib crc32) of bytes [8, 16 + body length): the seq and the body
//   offset 8   u64  seq: 1, 2, 3, ... without gaps across all segments (always below 2^53)
//   offset 16  body msgpack map { org, projId, op: 'add'|'remove', numbers, ts, keyId }
//
// `numbers` is a msgpack bin of the change's sorted numbers as Float64 little-endian (8 bytes per
// number, decoded without parsing). A record of LOG_RECORD_DELTA_NUMBERS_MIN numbers or more (bulk
// changes) holds `count` and `deltas` instead: varint differences (number-deltas.ts, about 1 byte a
// number). `projId` '' is the master list; `ts` is milliseconds since the epoch; `keyId` is the id
// (never the secret) of the API key, or null. A change split over several records has `more: true`
// on all of them but its last (absent otherwise): readers apply it only once the last one is read
// (src/persist/commit-assembler.ts), so it is all there or not at all. The CRC covers the seq so a
// record copied to the wrong position is caught, and the length is bounded so a corrupt length is
// recognised without reading gigabytes.

import { crc32 } from 'node:zlib';
import { pack, unpack } from 'msgpackr';
import { LOG_RECORD_BODY_BYTES_MAX, LOG_RECORD_DELTA_NUMBERS_MIN, LOG_RECORD_HEADER_BYTES } from '../constants.js';
import { decodeDeltas, encodeDeltas } from './number-deltas.js';
import { checkListAddress } from '../store/list-id.js';

export type LogOperation = 'add' | 'remove';

export interface LogChange {
  readonly op: LogOperation;
  readonly org: string;
  /** '' for the organisation's master list. */
  readonly projId: string;
  /** Sorted ascending. */
  readonly numbers: Float64Array;
  readonly ts: number;
  readonly keyId: string | null;
  /** True on every record of a multi-record change except its last. */
  readonly more?: boolean;
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

/** Encodes one framed record. The result is a fresh buffer (msgpackr reuses its own). */
export function encodeRecord(seq: number, change: LogChange): Buffer {
  const body = pack({
    org: change.org,
    projId: change.projId,
    op: change.op,
    ...(change.numbers.length >= LOG_RECORD_DELTA_NUMBERS_MIN
      ? { count: change.numbers.length, deltas: encodeDeltas(change.numbers) }
      : { numbers: numbersToBytes(change.numbers) }),
    ts: change.ts,
    keyId: change.keyId,
    ...(change.more === true ? { more: true } : {}),
  });
  if (body.length > LOG_RECORD_BODY_BYTES_MAX) throw new Error(`log record body of ${body.length} bytes exceeds the limit`);
  const frame = Buffer.allocUnsafe(LOG_RECORD_HEADER_BYTES + body.length);
  frame.writeUInt32LE(body.length, 0);
  frame.writeBigUInt64LE(BigInt(seq), 8);
  body.copy(frame, LOG_RECORD_HEADER_BYTES);
  frame.writeUInt32LE(crc32(frame.subarray(8)), 4);
  return frame;
}

/** CRC-32 a record header claims, and the one its bytes have (frame = header + body). */
export function frameChecksumMatches(frame: Uint8Array): boolean {
  const view = Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength);
  return view.readUInt32LE(4) === crc32(view.subarray(8));
}

/**
 * Decodes a body whose frame passed its checksum. A body that still does not decode (or names an
 * invalid list) was written by a buggy or foreign writer: the caller treats it as corruption.
 */
export function decodeBody(seq: number, body: Uint8Array): LogRecord {
  const value = unpack(body) as Record<string, unknown>;
  if (value === null || typeof value !== 'object') throw new Error('record body is not a map');
  const { org, projId, op, ts, keyId, more } = value;
  if (op !== 'add' && op !== 'remove') throw new Error('record body has no valid op');
  if (typeof org !== 'string' || typeof projId !== 'string') throw new Error('record body has no valid list');
  checkListAddress({ org, projId });

  if (typeof ts !== 'number') throw new Error('record body has no valid ts');
  if (keyId !== null && typeof keyId !== 'string') throw new Error('record body has no valid keyId');
  if (more !== undefined && more !== true) throw new Error('record body has an invalid more flag');
  const decoded = numbersOf(value);
  if (!sortedTenDigitNumbers(decoded)) throw new Error('record body numbers are not sorted 10-digit numbers');
  return more === true ? { seq, op, org, projId, numbers: decoded, ts, keyId, more } : { seq, op, org, projId, numbers: decoded, ts, keyId };
}

/** The numbers of a body: Float64 bytes, or a count with varint deltas. */
function numbersOf(value: Record<string, unknown>): Float64Array {
  const { numbers, count, deltas } = value;
  if (numbers !== undefined) {
    if (!(numbers instanceof Uint8Array) || numbers.length % 8 !== 0 || deltas !== undefined) throw new Error('record body has no valid numbers');
    return bytesToNumbers(numbers);
  }
  if (!(deltas instanceof Uint8Array) || typeof count !== 'number' || !Number.isSafeInteger(count) || count < 0 || count > deltas.length) {
    throw new Error('record body has no valid numbers');
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
