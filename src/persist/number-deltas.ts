// Compact form of a sorted run of numbers for the log: each number as its difference from the
// previous one (the first from 0), written as an unsigned LEB128 varint. Numbers of a bulk change
// are dense (registry-shaped lists have gaps of a few lines), so most differences take one byte:
// about 1.1 bytes a number instead of 8, which is what keeps a 100M-number import from writing,
// checksumming and fsyncing 800 MB of log. Decoding checks that the bytes hold exactly `count`
// numbers; the record decoder then checks them like any other (sorted, 10 digits).

import { DataCorruptError } from '../errors.js';

const CONTINUE = 0x80;
const LOW_BITS = 0x7f;
const TWO_POW_31 = 0x80000000;
/** A difference below 2^34 takes at most 5 varint bytes. */
const BYTES_PER_NUMBER_MAX = 5;

/** Varint differences of `numbers`, which must be sorted ascending integers below 2^34. */
export function encodeDeltas(numbers: Float64Array): Buffer {
  const out = Buffer.allocUnsafe(numbers.length * BYTES_PER_NUMBER_MAX);
  let at = 0;
  let previous = 0;
  for (let i = 0; i < numbers.length; i++) {
    const number = numbers[i]!;
    let delta = number - previous;
    previous = number;
    if (delta < CONTINUE) {
      // The common case of a dense bulk change: one byte, no loop.
      out[at++] = delta;
      continue;
    }
    if (delta < TWO_POW_31) {
      while (delta >= CONTINUE) {
        out[at++] = (delta & LOW_BITS) | CONTINUE;
        delta >>>= 7;
      }
    } else {
      while (delta >= CONTINUE) {
        out[at++] = (delta % CONTINUE) | CONTINUE;
        delta = Math.floor(delta / CONTINUE);
      }
    }
    out[at++] = delta;
  }
  return out.subarray(0, at);
}

/** The `count` numbers encoded in `bytes`; throws when the bytes hold anything else. */
export function decodeDeltas(bytes: Uint8Array, count: number): Float64Array {
  const numbers = new Float64Array(count);
  let at = 0;
  let value = 0;
  for (let i = 0; i < count; i++) {
    let delta = 0;
    let scale = 1;
    let byte: number;
    do {
      if (at >= bytes.length || scale > 2 ** 35) throw new DataCorruptError('number deltas are cut short or malformed');
      byte = bytes[at++]!;
      delta += (byte & LOW_BITS) * scale;
      scale *= CONTINUE;
    } while ((byte & CONTINUE) !== 0);
    value += delta;
    numbers[i] = value;
  }
  if (at !== bytes.length) throw new DataCorruptError('number deltas hold more bytes than their count');
  return numbers;
}
