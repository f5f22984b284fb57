// The torn-tail search (findValidFrameAfter) against the plain search it replaces, kept here as the
// reference: the same answer on random bytes and on tails built to be hard (valid frames at random
// offsets, plausible headers, cut and damaged frames, a pattern of long plausible frames), and a
// tail of that pattern at a size the plain search needs hours for is judged within a test timeout.
// The CRC-32 range arithmetic under it is checked against node:zlib directly.

import fs from 'node:fs';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LOG_RECORD_BODY_BYTES_MAX, LOG_RECORD_HEADER_BYTES } from '../../src/constants.js';
import { Crc32Ranges, crc32Shift } from '../../src/persist/crc32-ranges.js';
import { frameChecksumMatches } from '../../src/persist/record.js';
import { findValidFrameInFile } from '../../src/persist/segment-read.js';
import { findValidFrameAfter } from '../../src/persist/segment-scan.js';
import { makeTempDir, removeDir } from './helpers.js';
import { longCandidates } from './hostile-tails.js';

const RESYNC_SEQ_WINDOW = 1 << 24;

/** The search as it was: every plausible offset checksums its whole frame (quadratic on hard tails). */
function naiveFindValidFrameAfter(bytes: Buffer, from: number, lastGoodSeq: number, to = bytes.length): number {
  for (let offset = from; offset < to && offset + LOG_RECORD_HEADER_BYTES <= bytes.length; offset++) {
    const length = bytes.readUInt32LE(offset);
    if (length > LOG_RECORD_BODY_BYTES_MAX || offset + LOG_RECORD_HEADER_BYTES + length > bytes.length) continue;
    if (bytes.readUInt16LE(offset + 14) !== 0) continue;
    const seq = Number(bytes.readBigUInt64LE(offset + 8));
    if (seq <= lastGoodSeq || seq > lastGoodSeq + RESYNC_SEQ_WINDOW) continue;
    if (frameChecksumMatches(bytes.subarray(offset, offset + LOG_RECORD_HEADER_BYTES + length))) return offset;
  }
  return -1;
}

/** A frame of `body` at `seq` (a u64 given as low 32 + high 32 bits), with a correct checksum. */
function frame(seqLow: number, seqHigh: number, body: Uint8Array): Buffer {
  const bytes = Buffer.alloc(LOG_RECORD_HEADER_BYTES + body.length);
  bytes.writeUInt32LE(body.length, 0);
  bytes.writeUInt32LE(seqLow, 8);
  bytes.writeUInt32LE(seqHigh, 12);
  bytes.set(body, LOG_RECORD_HEADER_BYTES);
  bytes.writeUInt32LE(crc32(bytes.subarray(8)), 4);
  return bytes;
}

function seqParts(seq: number): [number, number] {
  return [seq % 2 ** 32, Math.floor(seq / 2 ** 32)];
}

type Piece = (lastGoodSeq: number) => Buffer;

const seqDelta = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 1, max: 8 }) },
  { weight: 1, arbitrary: fc.integer({ min: -3, max: 0 }) },
  { weight: 1, arbitrary: fc.constantFrom(RESYNC_SEQ_WINDOW - 1, RESYNC_SEQ_WINDOW, RESYNC_SEQ_WINDOW + 1, 2 ** 40, 2 ** 48) },
);
const bodyBytes = fc.oneof(
  { weight: 8, arbitrary: fc.uint8Array({ maxLength: 200 }) },
  { weight: 1, arbitrary: fc.integer({ min: 60_000, max: 80_000 }).map((length) => Uint8Array.from({ length }, (_, i) => (i * 31) & 0xff)) },
);
const validFrame = fc.record({ delta: seqDelta, body: bodyBytes }).map(({ delta, body }): Piece => (lastGoodSeq) => frame(...seqParts(Math.max(0, lastGoodSeq + delta)), body));
const pieces: fc.Arbitrary<Piece> = fc.oneof(
  fc.uint8Array({ maxLength: 80 }).map((garbage): Piece => () => Buffer.from(garbage)),
  fc.integer({ min: 1, max: 80 }).map((length): Piece => () => Buffer.alloc(length)),
  validFrame,
  validFrame,
  // A plausible header (seq in the window, a length that may or may not fit) with a wrong checksum.
  fc.record({ delta: seqDelta, length: fc.oneof(fc.nat(300), fc.constantFrom(LOG_RECORD_BODY_BYTES_MAX, LOG_RECORD_BODY_BYTES_MAX + 1)), crc: fc.nat() }).map(
    ({ delta, length, crc }): Piece => (lastGoodSeq) => {
      const header = frame(...seqParts(Math.max(0, lastGoodSeq + delta)), new Uint8Array(0));
      header.writeUInt32LE(length, 0);
      header.writeUInt32LE(crc >>> 0, 4);
      return header;
    },
  ),
  // A valid frame cut short, or with one byte changed.
  fc.record({ make: validFrame, cut: fc.double({ min: 0, max: 1, noNaN: true }), flip: fc.boolean() }).map(
    ({ make, cut, flip }): Piece => (lastGoodSeq) => {
      const bytes = make(lastGoodSeq);
      const at = Math.floor(cut * (bytes.length - 1));
      if (flip) {
        bytes[at]! ^= 1 << (at % 8);
        return bytes;
      }
      return bytes.subarray(0, at);
    },
  ),
  fc.integer({ min: 16, max: 400 }).map((size): Piece => () => longCandidates(size)),
);

const lastGoodSeqs = fc.oneof(fc.constant(0), fc.nat(20), fc.constantFrom(2 ** 32 - 2, 2 ** 40, 2 ** 48 - 3), fc.nat({ max: 2 ** 47 }));

const searches = fc.record({
  lastGoodSeq: lastGoodSeqs,
  parts: fc.array(pieces, { maxLength: 12 }),
  from: fc.oneof(fc.constant(0), fc.double({ min: 0, max: 1, noNaN: true })),
  to: fc.option(fc.double({ min: 0, max: 1.1, noNaN: true }), { freq: 3 }),
});

interface Search {
  readonly lastGoodSeq: number;
  readonly parts: Piece[];
  readonly from: number;
  readonly to: number | null;
}

function build(search: Search): { bytes: Buffer; from: number; to: number | undefined } {
  const bytes = Buffer.concat(search.parts.map((piece) => piece(search.lastGoodSeq)));
  const from = Math.floor(search.from * bytes.length);
  const to = search.to === null ? undefined : Math.floor(search.to * bytes.length);
  return { bytes, from, to };
}

describe('findValidFrameAfter', () => {
  it('finds the same frame as the plain search on random and hostile tails', () => {
    fc.assert(
      fc.property(searches, (search) => {
        const { bytes, from, to } = build(search);
        expect(findValidFrameAfter(bytes, from, search.lastGoodSeq, to)).toBe(naiveFindValidFrameAfter(bytes, from, search.lastGoodSeq, to));
      }),
      { numRuns: 2000 },
    );
  });

  it('finds every valid frame the generator placed, when it is the first', () => {
    // Guards the comparison above against a generator that never produces a match.
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.uint8Array({ maxLength: 300 }), fc.nat(1000), (before, body, lastGoodSeq) => {
        const valid = frame(lastGoodSeq + 1, 0, body);
        const bytes = Buffer.concat([Buffer.from(before), valid]);
        const expected = naiveFindValidFrameAfter(bytes, 0, lastGoodSeq);
        expect(expected).toBeGreaterThanOrEqual(0);
        expect(expected).toBeLessThanOrEqual(before.length);
        expect(findValidFrameAfter(bytes, 0, lastGoodSeq)).toBe(expected);
      }),
      { numRuns: 300 },
    );
  });

  it('judges an 8 MiB tail of long plausible frames in linear time', () => {
    const tail = longCandidates(8 * 1024 * 1024);
    expect(findValidFrameAfter(tail, 0, 3)).toBe(-1);
    const valid = frame(4, 0, Buffer.from('the record after the damage'));
    expect(findValidFrameAfter(Buffer.concat([tail, valid]), 0, 3)).toBe(tail.length);
  }, 30_000);
});

describe('findValidFrameInFile', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await makeTempDir();
  });
  afterEach(async () => {
    await removeDir(dir);
  });

  async function searchFile(bytes: Buffer, from: number, lastGoodSeq: number, chunkBytes: number): Promise<number> {
    const file = path.join(dir, 'tail');
    fs.writeFileSync(file, bytes);
    const handle = await fs.promises.open(file, 'r');
    try {
      return await findValidFrameInFile(handle, from, bytes.length, lastGoodSeq, chunkBytes);
    } finally {
      await handle.close();
    }
  }

  it('finds the same frame as the plain search when the bytes after the stop span many windows', async () => {
    const MiB = 1024 * 1024;
    const longest = frame(8, 0, Buffer.alloc(LOG_RECORD_BODY_BYTES_MAX, 7));
    // Filled with 0xff (a length beyond the limit at every offset), which the plain search rejects fast.
    const fill = (size: number): Buffer => Buffer.alloc(size, 0xff);
    const cases: { name: string; bytes: Buffer }[] = [
      { name: 'nothing valid', bytes: Buffer.concat([longCandidates(4096), fill(18 * MiB)]) },
      { name: 'a frame beyond the first window', bytes: Buffer.concat([fill(18 * MiB + 5), frame(9, 0, Buffer.from('late'))]) },
      { name: 'the longest frame starting at the last offset of a window', bytes: Buffer.concat([fill(MiB), longest, fill(100)]) },
      { name: 'the longest frame one past the first window', bytes: Buffer.concat([fill(MiB + 1), longest]) },
      { name: 'the longest frame cut by one byte', bytes: Buffer.concat([fill(MiB), longest.subarray(0, longest.length - 1)]) },
    ];
    const found: boolean[] = [];
    for (const { name, bytes } of cases) {
      const expected = naiveFindValidFrameAfter(bytes, 1, 3);
      expect(await searchFile(bytes, 1, 3, MiB), name).toBe(expected);
      found.push(expected !== -1);
    }
    expect(found).toEqual([false, true, true, true, false]);
  }, 60_000);

  it('finds the same frame as the plain search with tiny windows', async () => {
    await fc.assert(
      fc.asyncProperty(searches, fc.integer({ min: 1, max: 64 }), async (search, chunkBytes) => {
        const { bytes, from } = build(search);
        expect(await searchFile(bytes, from, search.lastGoodSeq, chunkBytes)).toBe(naiveFindValidFrameAfter(bytes, from, search.lastGoodSeq));
      }),
      { numRuns: 200 },
    );
  });
});

describe('CRC-32 of byte ranges', () => {
  it('equals node:zlib crc32 of the range', () => {
    const bytes = Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 7919 + (i >> 3)) & 0xff));
    fc.assert(
      fc.property(fc.nat(5000), fc.array(fc.tuple(fc.nat(5000), fc.nat(5000)), { maxLength: 20 }), (start, pairs) => {
        const ranges = new Crc32Ranges(bytes, start);
        for (const [a, b] of pairs) {
          const from = start + (Math.min(a, b) % (bytes.length - start + 1));
          const to = Math.min(bytes.length, from + Math.abs(a - b));
          expect(ranges.crc(from, to)).toBe(crc32(bytes.subarray(from, to)));
        }
      }),
    );
  });

  it('shifts a register as that many zero bytes do, for every digit of the shift', () => {
    const zeros = Buffer.alloc(LOG_RECORD_BODY_BYTES_MAX + LOG_RECORD_HEADER_BYTES);
    for (const n of [0, 1, 15, 16, 255, 4096, 65_535, 1_048_577, 16_777_215, zeros.length]) {
      for (const crc of [0, 1, 0x80000000, 0xdeadbeef]) {
        // crc32 continued over n zero bytes is the inverted register after them.
        const expected = crc32(zeros.subarray(0, n), crc);
        expect(crc32Shift(~crc, n), `shift by ${n}`).toBe(~expected >>> 0);
      }
    }
  });
});
