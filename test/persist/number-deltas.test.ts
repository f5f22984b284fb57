import { describe, expect, it } from 'vitest';
import { LOG_RECORD_DELTA_NUMBERS_MIN } from '../../src/constants.js';
import { DataCorruptError } from '../../src/errors.js';
import { decodeDeltas, encodeDeltas } from '../../src/persist/number-deltas.js';
import { decodeBody, encodeRecord } from '../../src/persist/record.js';

describe('varint deltas of sorted numbers', () => {
  it('round-trips large jumps, duplicates and dense runs, about a byte a number when dense', () => {
    const numbers = Float64Array.of(2_012_000_000, 2_012_000_000, 2_012_000_001, 5_039_367_187, 9_999_999_999);
    expect(Array.from(decodeDeltas(encodeDeltas(numbers), numbers.length))).toEqual(Array.from(numbers));
    const dense = Float64Array.from({ length: 100_000 }, (_, i) => 5_032_000_000 + i * 3);
    const bytes = encodeDeltas(dense);
    expect(bytes.length).toBeLessThan(dense.length * 1.01 + 8);
    expect(decodeDeltas(bytes, dense.length)).toEqual(dense);
  });

  it('refuses bytes that do not hold exactly the count', () => {
    const bytes = encodeDeltas(Float64Array.of(5_039_367_187, 5_039_367_190));
    expect(() => decodeDeltas(bytes, 3)).toThrow(/cut short/);
    expect(() => decodeDeltas(bytes, 1)).toThrow(/more bytes/);
    expect(() => decodeDeltas(bytes, 1)).toThrow(DataCorruptError);
    expect(() => decodeDeltas(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), 1)).toThrow(/malformed/);
  });

  it('is what a bulk-sized log record carries, and it decodes to the same change', () => {
    const numbers = Float64Array.from({ length: LOG_RECORD_DELTA_NUMBERS_MIN }, (_, i) => 3_102_000_000 + i * 7);
    const frame = encodeRecord(9, { op: 'add', org: 'acme', projId: 'p', numbers, ts: 1, keyId: null });
    expect(frame.length).toBeLessThan(numbers.length * 2);
    const record = decodeBody(9, frame.subarray(16));
    expect(record.numbers).toEqual(numbers);
    expect(record).toMatchObject({ seq: 9, op: 'add', org: 'acme', projId: 'p' });
    const small = encodeRecord(10, { op: 'add', org: 'acme', projId: '', numbers: numbers.subarray(0, 10), ts: 1, keyId: null });
    expect(decodeBody(10, small.subarray(16)).numbers).toEqual(numbers.subarray(0, 10));
  });
});
