// The hand-written record encoder must give the bytes msgpackr's pack() gives the same body (the
// format every reader decodes), and a batch encoded as one buffer must be the records back to back.
// The history fields are spelled s, r and q (ms before ts); records the first version wrote with
// source, reason and requestedAt (the instant) still decode, and encode back to the same bytes.

import { crc32 } from 'node:zlib';
import { pack, unpack } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { LOG_RECORD_DELTA_NUMBERS_MIN, LOG_RECORD_HEADER_BYTES } from '../../src/constants.js';
import { encodeDeltas } from '../../src/persist/number-deltas.js';
import { decodeBody, encodeRecord, encodeRecords, frameChecksumMatches, isHistorySource, type LogChange } from '../../src/persist/record.js';
import { mulberry32 } from '../durability/random.js';

function msgpackrBody(change: LogChange): Buffer {
  const numbers = Buffer.from(change.numbers.buffer, change.numbers.byteOffset, change.numbers.byteLength);
  return Buffer.from(pack({
    org: change.org,
    projId: change.projId,
    op: change.op,
    numbers,
    ts: change.ts,
    keyId: change.keyId,
    ...(change.source === undefined ? {} : { s: change.source }),
    ...(change.reason === undefined ? {} : { r: change.reason }),
    ...(change.requestedAt === undefined ? {} : { q: change.ts - change.requestedAt }),
    ...(change.more === true ? { more: true } : {}),
  }));
}

/**
 * A body as the first version with history fields wrote it: the long keys, requestedAt the instant
 * itself. Its hand-written encoder gave exactly msgpackr's bytes for this object (its own test
 * compared them), so msgpackr builds the fixture.
 */
function firstVersionBody(change: LogChange): Buffer {
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

/** A frame around `body`, as the log stores it. */
function frameOf(seq: number, body: Buffer): Buffer {
  const frame = Buffer.alloc(LOG_RECORD_HEADER_BYTES + body.length);
  frame.writeUInt32LE(body.length, 0);
  frame.writeBigUInt64LE(BigInt(seq), 8);
  body.copy(frame, LOG_RECORD_HEADER_BYTES);
  frame.writeUInt32LE(crc32(frame.subarray(8)), 4);
  return frame;
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
  ['requestedAt a minute before ts (uint16)', change({ source: 'ivr', requestedAt: 1_795_727_605_166 })],
  ['requestedAt 10 days before ts (uint32)', change({ requestedAt: 1_795_727_665_166 - 864_000_000 })],
  ['requestedAt equal to ts (fixint 0)', change({ requestedAt: 1_795_727_665_166 })],
  ['requestedAt 31 ms after ts (negative fixint)', change({ requestedAt: 1_795_727_665_166 + 31 })],
  ['requestedAt 100 ms after ts (int8)', change({ requestedAt: 1_795_727_665_166 + 100 })],
  ['requestedAt 20 s after ts (int16)', change({ requestedAt: 1_795_727_665_166 + 20_000 })],
  ['requestedAt 5 minutes after ts (int32)', change({ requestedAt: 1_795_727_665_166 + 300_000 })],
  ['requestedAt 2^31 + 1 ms after ts (float64)', change({ requestedAt: 1_795_727_665_166 + 2 ** 31 + 1 })],
  ['requestedAt 3 years before ts (float64)', change({ reason: 'letter', requestedAt: 1_795_727_665_166 - 94_608_000_000 })],
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
  ])('a record with %s is refused as corrupt, in either spelling', (_, fields) => {
    expect(() => decodeBody(1, msgpackrBody(change(fields)))).toThrow(expect.objectContaining({ code: 'DATA_CORRUPT' }));
    expect(() => decodeBody(1, firstVersionBody(change(fields)))).toThrow(expect.objectContaining({ code: 'DATA_CORRUPT' }));
  });

  const base = { org: 'default', projId: '', op: 'add', numbers: Buffer.from(Float64Array.of(2_125_550_123).buffer), ts: 1_795_727_665_166, keyId: null };
  it.each([
    ['source in both spellings', { s: 'ivr', source: 'ivr' }],
    ['a short source beside a long reason', { s: 'ivr', reason: 'x' }],
    ['requestedAt in both spellings', { q: 0, requestedAt: 1_795_727_665_166 }],
    ['a q that is text', { q: '60000' }],
    ['a fractional q', { q: 0.5 }],
    ['a q that puts requestedAt before 1970', { q: 1_795_727_665_167 }],
    ['a q beyond safe integers', { q: 2 ** 60 }],
    ['a short source outside the token alphabet', { s: 'Web Form' }],
    ['a short reason over 200 characters', { r: 'x'.repeat(201) }],
  ])('a body with %s is refused as corrupt', (_, fields) => {
    expect(() => decodeBody(1, Buffer.from(pack({ ...base, ...fields })))).toThrow(expect.objectContaining({ code: 'DATA_CORRUPT' }));
  });

  const withFields = cases.filter(([, record]) => record.source !== undefined || record.reason !== undefined || record.requestedAt !== undefined);
  it.each(withFields)('%s, as the first version wrote it: decodes to the same record, and encodes back to the same bytes', (_, record) => {
    const oldFrame = frameOf(41, firstVersionBody(record));
    const decoded = decodeBody(41, oldFrame.subarray(LOG_RECORD_HEADER_BYTES));
    expect(decoded).toEqual({ ...record, seq: 41 });
    expect(encodeRecord(41, decoded).equals(oldFrame)).toBe(true);
    expect(Buffer.concat(encodeRecords(41, [decoded, { ...decoded }])).equals(Buffer.concat([oldFrame, encodeRecord(42, record)]))).toBe(true);
    expect(encodeRecord(41, record).length).toBeLessThan(oldFrame.length);
  });

  it('a bulk record as the first version wrote it decodes, and encodes back to the same bytes', () => {
    const numbers = Float64Array.from({ length: LOG_RECORD_DELTA_NUMBERS_MIN }, (_, i) => 4_045_550_000 + i);
    const fields = { source: 'import', reason: 'r', requestedAt: 1_795_727_000_000 };
    const oldBody = Buffer.from(pack({ org: 'default', projId: '', op: 'add', count: numbers.length, deltas: encodeDeltas(numbers), ts: 1_795_727_665_166, keyId: 'cli', ...fields }));
    const decoded = decodeBody(9, oldBody);
    expect({ source: decoded.source, reason: decoded.reason, requestedAt: decoded.requestedAt, numbers: decoded.numbers }).toEqual({ ...fields, numbers });
    expect(encodeRecord(9, decoded).equals(frameOf(9, oldBody))).toBe(true);
    const compact = encodeRecord(9, change({ numbers, ts: 1_795_727_665_166, keyId: 'cli', ...fields }));
    expect(compact.length).toBeLessThan(frameOf(9, oldBody).length);
    expect(unpack(compact.subarray(LOG_RECORD_HEADER_BYTES))).toMatchObject({ s: 'import', r: 'r', q: 665_166 });
  });

  it('a single add with the three fields takes 134 bytes, 160 in the first spelling, 95 without them (docs/file-formats.md)', () => {
    const add = change({ keyId: '3f9a0c1b2d4e' });
    const fields = { source: 'ivr', reason: 'pressed 9 in the IVR menu', requestedAt: add.ts - 60_000 };
    expect(encodeRecord(1, add).length).toBe(95);
    expect(encodeRecord(1, { ...add, ...fields }).length).toBe(134);
    expect(frameOf(1, firstVersionBody({ ...add, ...fields })).length).toBe(160);
  });

  it('requestedAt is spelled as the instant when ts - requestedAt would not give it back (a fractional ts)', () => {
    const record = change({ ts: 1_795_727_665_166.3, source: 'web', requestedAt: 1_795_727_600_000 });
    const body = encodeRecord(5, record).subarray(LOG_RECORD_HEADER_BYTES);
    expect(unpack(body)).toMatchObject({ s: 'web', requestedAt: 1_795_727_600_000 });
    expect(unpack(body)).not.toHaveProperty('q');
    expect(decodeBody(5, body)).toEqual({ ...record, seq: 5 });
    expect(encodeRecord(5, decodeBody(5, body)).subarray(LOG_RECORD_HEADER_BYTES).equals(body)).toBe(true);
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

  it('frameChecksumMatches takes a frame whole, at any offset of its buffer, and refuses it with any one byte changed past its length', () => {
    for (const count of [0, 1, 5, 60, 70]) {
      const frame = encodeRecord(9, change({ numbers: Float64Array.from({ length: count }, (_, i) => 2_125_550_000 + i), reason: 'r' }));
      const shifted = new Uint8Array(frame.length + 3).subarray(3);
      shifted.set(frame);
      expect(frameChecksumMatches(shifted), `${count} numbers`).toBe(true);
      const accepted: number[] = [];
      for (let at = 4; at < frame.length; at++) {
        shifted[at]! ^= 0x10;
        if (frameChecksumMatches(shifted)) accepted.push(at);
        shifted[at]! ^= 0x10;
      }
      expect(accepted, `${count} numbers (${frame.length} bytes)`).toEqual([]);
    }
  });

  it('history fields present but undefined (as the engine builds its records) are written as absent', () => {
    const absent = { source: undefined, reason: undefined, requestedAt: undefined, import: undefined, more: undefined };
    expect(encodeRecord(3, change(absent)).equals(encodeRecord(3, change()))).toBe(true);
    const some = { source: 'ivr', reason: undefined, requestedAt: 1_795_727_605_166, import: undefined, more: undefined };
    expect(encodeRecord(3, change(some)).equals(frameOf(3, msgpackrBody(change({ source: 'ivr', requestedAt: 1_795_727_605_166 }))))).toBe(true);
  });

  it('a batch of random records is msgpackr\'s bodies in zlib-checksummed frames, at any offset of the scratch buffer', () => {
    const random = mulberry32(20_261_207);
    const pick = <T>(values: readonly T[]): T => values[Math.floor(random() * values.length)]!;
    const text = (alphabet: string, length: number): string => Array.from({ length }, () => alphabet[Math.floor(random() * alphabet.length)]).join('');
    const ts = 1_795_727_665_166;
    const records = Array.from({ length: 300 }, (): LogChange => {
      const fields: { source?: string; reason?: string; requestedAt?: number } = {};
      if (random() < 0.7) fields.source = text('abcdefghijklmnopqrstuvwxyz0123456789_-', 1 + Math.floor(random() * 32));
      if (random() < 0.7) fields.reason = text(pick(['abc def 0123456789', 'é ü 中 x', 'a\u{1F600}b']), Math.floor(random() * 70));
      if (random() < 0.7) fields.requestedAt = ts - pick([0, 31, -31, 100, -100, 60_000, -20_000, 864_000_000, -300_000, 2 ** 31 + 1, 94_608_000_000]);
      const numbers = Float64Array.from({ length: Math.floor(random() * 20) }, (_, i) => 2_125_550_000 + i * 7);
      return change({ org: text('abcxyz', 1 + Math.floor(random() * 40)), keyId: pick([null, 'k1a2b3c4', 'clé']), numbers, more: random() < 0.1 ? true : undefined, ...fields });
    });
    const expected = Buffer.concat(records.map((record, i) => frameOf(100 + i, msgpackrBody(record))));
    for (const shift of [0, 1, 3]) {
      const scratch = Buffer.alloc(expected.length + 64 * 1024).subarray(shift);
      const [frames] = encodeRecords(100, records, scratch);
      expect(frames!.buffer).toBe(scratch.buffer);
      expect(frames!.equals(expected)).toBe(true);
    }
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

describe('isHistorySource', () => {
  const token = /^[a-z0-9_-]{1,32}$/;

  it('accepts exactly 1-32 of a-z 0-9 _ -: every UTF-16 unit alone and amid a valid token, every length to 40', () => {
    const wrong: string[] = [];
    for (let code = 0; code <= 0xffff; code++) {
      const unit = String.fromCharCode(code);
      for (const value of [unit, `ab${unit}9`]) if (isHistorySource(value) !== token.test(value)) wrong.push(value);
    }
    for (let length = 0; length <= 40; length++) if (isHistorySource('x'.repeat(length)) !== (length >= 1 && length <= 32)) wrong.push(`${length} x`);
    expect(wrong).toEqual([]);
    expect(isHistorySource('a\u{1F600}')).toBe(false);
  });

  it.each([[5], [null], [undefined], [['ivr']]])('refuses %j (not text)', (value) => {
    expect(isHistorySource(value)).toBe(false);
  });
});
