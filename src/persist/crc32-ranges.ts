// CRC-32 (the zlib polynomial, equal to node:zlib crc32) of many byte ranges of one buffer, each in
// constant time after one pass over the buffer. The torn-tail search (segment-scan.ts) checks a
// candidate frame at nearly every offset of a damaged tail, each frame up to 16 MiB long: computing
// every checksum from its bytes is quadratic in the tail's size.
//
// Why it works: with C(i) the CRC-32 of bytes [0, i), the CRC-32 of bytes [a, b) is
// C(b) xor Z^(b - a)(C(a)), where Z is what one zero byte does to a CRC register (the pre- and
// post-inversion of CRC-32 cancel out, as in zlib's crc32_combine). Z is linear over GF(2), so its
// powers are 32x32 bit matrices, kept as four 256-entry tables each (one per byte of the register)
// for Z^(d * 16^k), d = 1..15, k = 0..6: a shift by n bytes is one table lookup per byte of the
// register for each non-zero hex digit of n. C(i) is kept every CRC_CHECKPOINT_BYTES bytes and
// completed from there, so the memory is 4 / CRC_CHECKPOINT_BYTES bytes per byte of the buffer.

import { AssertionError } from '../assert.js';

/** Prefix CRCs are kept every this many bytes: 1/8 byte of memory per byte, at most 31 steps to finish one. */
const CRC_CHECKPOINT_BYTES = 32;
const CRC32_POLYNOMIAL_REFLECTED = 0xedb88320;
/** Shifts are decomposed into hex digits: 7 of them cover the longest frame (16 MiB + 24 bytes). */
const SHIFT_DIGITS = 7;
const SHIFT_BYTES_LIMIT = 16 ** SHIFT_DIGITS;
const OPERATOR_ENTRIES = 4 * 256;

const BYTE_TABLE = (() => {
  const table = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? CRC32_POLYNOMIAL_REFLECTED ^ (c >>> 1) : c >>> 1;
    table[n] = c;
  }
  return table;
})();

/** Operator (k * 15 + d - 1) is Z^(d * 16^k); built on first use (430 KB). */
let shiftOperators: Int32Array | null = null;

function applyOperator(operators: Int32Array, index: number, value: number): number {
  const base = index * OPERATOR_ENTRIES;
  return (
    operators[base + (value & 0xff)]! ^
    operators[base + 256 + ((value >>> 8) & 0xff)]! ^
    operators[base + 512 + ((value >>> 16) & 0xff)]! ^
    operators[base + 768 + (value >>> 24)]!
  );
}

/** Fills operator `index` from the images of the 32 unit vectors (linearity does the rest). */
function fillOperator(operators: Int32Array, index: number, images: Int32Array): void {
  const base = index * OPERATOR_ENTRIES;
  for (let part = 0; part < 4; part++) {
    const table = base + part * 256;
    operators[table] = 0;
    for (let n = 1; n < 256; n++) {
      const lowest = 31 - Math.clz32(n & -n);
      operators[table + n] = operators[table + (n & (n - 1))]! ^ images[part * 8 + lowest]!;
    }
  }
}

function buildShiftOperators(): Int32Array {
  const operators = new Int32Array(SHIFT_DIGITS * 15 * OPERATOR_ENTRIES);
  const images = new Int32Array(32);
  for (let bit = 0; bit < 32; bit++) images[bit] = zeroByteStep(1 << bit);
  fillOperator(operators, 0, images);
  for (let index = 1; index < SHIFT_DIGITS * 15; index++) {
    const digit = Math.floor(index / 15);
    // Z^(d * 16^k) is Z^((d - 1) * 16^k) after Z^(16^k), and Z^(16^k) is Z^(15 * 16^(k - 1)) after Z^(16^(k - 1)).
    const unit = index % 15 === 0 ? (digit - 1) * 15 : digit * 15;
    for (let bit = 0; bit < 32; bit++) images[bit] = applyOperator(operators, index - 1, applyOperator(operators, unit, 1 << bit));
    fillOperator(operators, index, images);
  }
  return operators;
}

function zeroByteStep(register: number): number {
  return BYTE_TABLE[register & 0xff]! ^ (register >>> 8);
}

/** Z^n(value): what n zero bytes do to a CRC register holding `value` (n below 16^7). */
export function crc32Shift(value: number, n: number): number {
  if (!(n >= 0 && n < SHIFT_BYTES_LIMIT && Number.isInteger(n))) throw new AssertionError(`CRC shift of ${n} bytes is out of range`);
  const operators = (shiftOperators ??= buildShiftOperators());
  let register = value | 0;
  for (let digit = 0, rest = n; rest !== 0; digit++, rest >>>= 4) {
    const d = rest & 15;
    if (d !== 0) register = applyOperator(operators, digit * 15 + d - 1, register);
  }
  return register >>> 0;
}

/**
 * CRC-32 of ranges of `bytes` at or after `start`. The prefix CRCs are computed lazily up to the
 * furthest range end asked for, so a search that stops early never reads the rest of the buffer.
 */
export class Crc32Ranges {
  /** checkpoints[j]: CRC-32 of bytes [start, start + j * CRC_CHECKPOINT_BYTES), inverted (the raw register). */
  private readonly checkpoints: Int32Array;
  private checkpointsKnown = 1;
  /** The raw register at `cursor`, the last range start: a search asks for ranges starting in order. */
  private cursor: number;
  private cursorRegister = -1;

  constructor(private readonly bytes: Uint8Array, private readonly start: number) {
    this.checkpoints = new Int32Array(Math.floor(Math.max(0, bytes.length - start) / CRC_CHECKPOINT_BYTES) + 1);
    this.checkpoints[0] = -1;
    this.cursor = start;
  }

  /** CRC-32 of bytes [from, to), start <= from <= to <= bytes.length; fastest with `from` non-decreasing. */
  crc(from: number, to: number): number {
    const index = this.checkpointIndex(from);
    const checkpoint = this.start + index * CRC_CHECKPOINT_BYTES;
    const register =
      this.cursor <= from && this.cursor > checkpoint
        ? this.advance(this.cursorRegister, this.cursor, from)
        : this.advance(this.checkpoints[index]!, checkpoint, from);
    this.cursor = from;
    this.cursorRegister = register;
    return (this.prefix(to) ^ crc32Shift(~register, to - from)) >>> 0;
  }

  /** CRC-32 of bytes [start, end). */
  private prefix(end: number): number {
    const index = this.checkpointIndex(end);
    return ~this.advance(this.checkpoints[index]!, this.start + index * CRC_CHECKPOINT_BYTES, end);
  }

  /** The last checkpoint at or before `position`, computed. */
  private checkpointIndex(position: number): number {
    const index = Math.floor((position - this.start) / CRC_CHECKPOINT_BYTES);
    this.extendCheckpoints(index);
    return index;
  }

  private extendCheckpoints(index: number): void {
    const { checkpoints, start } = this;
    for (let j = this.checkpointsKnown; j <= index; j++) {
      const from = start + (j - 1) * CRC_CHECKPOINT_BYTES;
      checkpoints[j] = this.advance(checkpoints[j - 1]!, from, from + CRC_CHECKPOINT_BYTES);
    }
    this.checkpointsKnown = Math.max(this.checkpointsKnown, index + 1);
  }

  /** The raw register after bytes [from, to) starting from `register`. */
  private advance(register: number, from: number, to: number): number {
    const { bytes } = this;
    for (let i = from; i < to; i++) register = BYTE_TABLE[(register ^ bytes[i]!) & 0xff]! ^ (register >>> 8);
    return register;
  }
}
