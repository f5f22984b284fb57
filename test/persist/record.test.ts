// The hand-written record encoder must give the bytes msgpackr's pack() gives the same body (the
// format every reader decodes), and a batch encoded as one buffer must be the records back to back.

import { crc32 } from 'node:zlib';
import { pack } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { LOG_RECORD_DELTA_NUMBERS_MIN, LOG_RECORD_HEADER_BYTES } from '../../src/constants.js';
import { decodeBody, encodeRecord, encodeRecords, frameChecksumMatches, type LogChange } from '../../src/persist/record.js';

function msgpackrBody(change: LogChange): Buffer {
  const numbers = Buffer.from(change.numbers.buffer, change.numbers.byteOffset, change.numbers.byteLength);
  return Buffer.from(pack({
    org: change.org,
    projId: change.projId,
    op: change.op,
    numbers,
    ts: change.ts,
    keyId: change.keyId,
    ...(change.source === undefined ? {} : { source: change.source }),
    ...(change.reason === undefined ? {} : { reason: change.reason }),
    ...(change.requestedAt === undefined ? {} : { requestedAt: change.requestedAt }),
    ...(change.more === true ? { more: true } : {}),
  }));
}

function change(overrides: Partial<LogChange> = {}): LogChange {
  return { op: 'add', org: 'default', projId: '', numbers: Float64Array.of(2_125_550_123), ts: 1_795_727_665_166, keyId: null, ...overrides };
}

const longName = 'x'.repeat(64);
const cases: [string, LogChange][] = [
  ['single add to the master list', change()],
  ['remove from a project with a key id and more', change({ op: 'remove', projId: 'campaign-7', keyId: 'k1a2b3c4', more: true })],
  ['64-character organisation and project (str8)', change({ org: longName, projId: longName })],
  ['31 and 32 characters (fixstr / str8 boundary)', change({ org: 'a'.repeat(31), projId: 'b'.repeat(32) })],
  ['non-ASCII key id', change({ keyId: 'clé-ü' })],
  ['no numbers', change({ numbers: new Float64Array(0) })],
  ['32 numbers (bin8 boundary)', change({ numbers: Float64Array.from({ length: 32 }, (_, i) => 3_105_550_000 + i) })],
  ['1,000 numbers (bin16)', change({ numbers: Float64Array.from({ length: 1000 }, (_, i) => 3_105_550_000 + i) })],
  ['10,000 numbers (bin32)', change({ numbers: Float64Array.from({ length: 10_000 }, (_, i) => 3_105_550_000 + i) })],
  ['small timestamps (fixint, uint8, uint16, uint32)', change({ ts: 1 })],
  ['ts 200', change({ ts: 200 })],
  ['ts 70,000', change({ ts: 70_000 })],
  ['ts 2^32 - 1', change({ ts: 2 ** 32 - 1 })],
  ['ts 2^32', change({ ts: 2 ** 32 })],
  ['drop of a project list', change({ op: 'drop', projId: 'campaign-7', numbers: new Float64Array(0), keyId: 'k1a2b3c4' })],
  ['source alone', change({ source: 'ivr' })],
  ['source, reason and requestedAt', change({ source: 'agent', reason: 'asked on the call', requestedAt: 1_795_727_000_000 })],
  ['a 200-character non-ASCII reason (str16) and more', change({ reason: 'é'.repeat(200), more: true })],
  ['requestedAt alone, below 2^32', change({ requestedAt: 70_000 })],
];

describe('log record encoding', () => {
  it.each(cases)('%s: same body bytes as msgpackr, valid frame, decodes back', (_, record) => {
    const frame = encodeRecord(2 ** 40 + 3, record);
    const body = frame.subarray(LOG_RECORD_HEADER_BYTES);
    expect(body.equals(msgpackrBody(record))).toBe(true);
    expect(frame.readUInt32LE(0)).toBe(body.length);
    expect(frame.readBigUInt64LE(8)).toBe(BigInt(2 ** 40 + 3));
    expect(frame.readUInt32LE(4)).toBe(crc32(frame.subarray(8)));
    expect(frameChecksumMatches(frame)).toBe(true);
    const decoded = decodeBody(2 ** 40 + 3, body);
    expect(decoded).toEqual({ ...record, seq: 2 ** 40 + 3 });
  });

  it.each([
    ['a source outside the token alphabet', { source: 'Web Form' }],
    ['a reason over 200 characters', { reason: 'x'.repeat(201) }],
    ['a requestedAt that is not a whole number', { requestedAt: 1.5 }],
    ['a requestedAt that is text', { requestedAt: '2026-03-01T15:04:05Z' as unknown as number }],
  ])('a record with %s is refused as corrupt', (_, fields) => {
    expect(() => decodeBody(1, msgpackrBody(change(fields)))).toThrow(expect.objectContaining({ code: 'DATA_CORRUPT' }));
  });

  it('the frame checksum equals zlib crc32 at every length around the JS/native switch', () => {
    for (let orgLength = 1; orgLength <= 64; orgLength++) {
      for (const count of [0, 1, 2, 5, 40, 60]) {
        const record = change({ org: 'o'.repeat(orgLength), numbers: Float64Array.from({ length: count }, (_, i) => 2_125_550_000 + i * 97) });
        const frame = encodeRecord(orgLength * 100 + count, record);
        expect(frame.readUInt32LE(4)).toBe(crc32(frame.subarray(8)));
      }
    }
  });

  it.each([
    ['with numbers', change({ op: 'drop', projId: 'p' })],
    ['of the master list', change({ op: 'drop', numbers: new Float64Array(0) })],
    ['with more', change({ op: 'drop', projId: 'p', numbers: new Float64Array(0), more: true })],
    ['an unknown op', change({ op: 'clear' as LogChange['op'] })],
  ])('a drop record %s (or an unknown op) is refused as corrupt', (_, record) => {
    expect(() => decodeBody(1, msgpackrBody(record))).toThrow(expect.objectContaining({ code: 'DATA_CORRUPT' }));
  });

  it('a timestamp msgpackr would write as a signed or fractional number still decodes to itself', () => {
    for (const ts of [-5, 1.5]) expect(decodeBody(1, encodeRecord(1, change({ ts })).subarray(LOG_RECORD_HEADER_BYTES)).ts).toBe(ts);
  });

  it('a batch is the records of consecutive seqs back to back; a bulk record gets its own buffer', () => {
    const bulk = change({ numbers: Float64Array.from({ length: LOG_RECORD_DELTA_NUMBERS_MIN }, (_, i) => 4_045_550_000 + i) });
    const records = [change(), change({ op: 'remove', keyId: 'k' }), bulk, change({ projId: 'p', more: true }), change({ projId: 'p' })];
    const buffers = encodeRecords(7, records);
    expect(buffers).toHaveLength(3);
    const expected = Buffer.concat(records.map((record, i) => encodeRecord(7 + i, record)));
    expect(Buffer.concat(buffers).equals(expected)).toBe(true);
    expect(buffers[1]!.equals(encodeRecord(9, bulk))).toBe(true);
    expect(encodeRecords(1, [])).toEqual([]);
  });

  it('a bulk record carries the history fields too', () => {
    const bulk = change({ numbers: Float64Array.from({ length: LOG_RECORD_DELTA_NUMBERS_MIN }, (_, i) => 4_045_550_000 + i), source: 'import', reason: 'r', requestedAt: 5 });
    const decoded = decodeBody(4, encodeRecord(4, bulk).subarray(LOG_RECORD_HEADER_BYTES));
    expect({ source: decoded.source, reason: decoded.reason, requestedAt: decoded.requestedAt }).toEqual({ source: 'import', reason: 'r', requestedAt: 5 });
  });

  it('writes the first run into a scratch buffer that fits, and allocates when it does not', () => {
    const records = [change(), change({ keyId: 'k' })];
    const expected = Buffer.concat(records.map((record, i) => encodeRecord(3 + i, record)));
    const scratch = Buffer.alloc(4096);
    const [inScratch] = encodeRecords(3, records, scratch);
    expect(inScratch!.buffer).toBe(scratch.buffer);
    expect(inScratch!.equals(expected)).toBe(true);
    const [allocated] = encodeRecords(3, records, Buffer.alloc(16));
    expect(allocated!.equals(expected)).toBe(true);
  });
});
