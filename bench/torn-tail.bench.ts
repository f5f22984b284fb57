// Torn-tail search: how long recovery (and a follower, on every poll) takes to decide whether
// anything valid follows a bad record at the end of the log, on a tail built to make that search
// work hard (long plausible frame headers at 3 of every 8 offsets) and on a tail of zeros (a file
// extended but never written), each beside the plain search it replaced, measured in the same run.
// The plain search is quadratic on the hostile tail, so it runs at a smaller size; the linear
// search runs at that size and at 32 times it, and its time per byte at both shows it is linear.
// Checks itself: both searches give the same answer, and find a valid frame placed after the tail.

import { crc32 } from 'node:zlib';
import { LOG_RECORD_BODY_BYTES_MAX, LOG_RECORD_HEADER_BYTES } from '../src/constants.js';
import { frameChecksumMatches } from '../src/persist/record.js';
import { findValidFrameAfter } from '../src/persist/segment-scan.js';
import { check, versus } from './figures.js';
import type { Scenario } from './scenario.js';

const HOSTILE_BYTES = 256 * 1024;
const SMOKE_HOSTILE_BYTES = 16 * 1024;
/** The linear search also runs at this multiple of the hostile size (the plain one would take ~1000x longer). */
const SCALE_UP = 32;
const ZERO_BYTES = 16 * 1024 * 1024;
const SMOKE_ZERO_BYTES = 256 * 1024;
const RUNS = 3;
const SMOKE_RUNS = 1;
const LAST_GOOD_SEQ = 3;
/** Time per byte may vary this much between sizes (caches, timer noise) and still be linear. */
const LINEAR_SLACK = 1.5;
const RESYNC_SEQ_WINDOW = 1 << 24;

/** The search as it was before: every plausible offset checksums its whole frame. */
function plainSearch(bytes: Buffer, from: number, lastGoodSeq: number): number {
  for (let offset = from; offset + LOG_RECORD_HEADER_BYTES <= bytes.length; offset++) {
    const length = bytes.readUInt32LE(offset);
    if (length > LOG_RECORD_BODY_BYTES_MAX || offset + LOG_RECORD_HEADER_BYTES + length > bytes.length) continue;
    if (bytes.readUInt16LE(offset + 14) !== 0) continue;
    const seq = Number(bytes.readBigUInt64LE(offset + 8));
    if (seq <= lastGoodSeq || seq > lastGoodSeq + RESYNC_SEQ_WINDOW) continue;
    if (frameChecksumMatches(bytes.subarray(offset, offset + LOG_RECORD_HEADER_BYTES + length))) return offset;
  }
  return -1;
}

/** Long plausible headers (as in test/persist/hostile-tails.ts). */
function hostileTail(size: number): Buffer {
  const bytes = Buffer.alloc(size);
  for (let at = 2; at < size; at += 8) bytes[at] = Math.max(1, Math.min(255, Math.floor((size - at - 14) / 65_536)));
  return bytes;
}

/** A valid frame of seq LAST_GOOD_SEQ + 1 (its body need not decode for the search). */
function validFrame(): Buffer {
  const frame = Buffer.alloc(LOG_RECORD_HEADER_BYTES + 8);
  frame.writeUInt32LE(8, 0);
  frame.writeUInt32LE(LAST_GOOD_SEQ + 1, 8);
  frame.writeUInt32LE(crc32(frame.subarray(8)), 4);
  return frame;
}

/** Median milliseconds of `runs` calls, and the answer (checked to be the same every time). */
function timed(runs: number, search: () => number): { ms: number; found: number } {
  const times: number[] = [];
  let found: number | null = null;
  for (let run = 0; run < runs; run++) {
    const started = performance.now();
    const result = search();
    times.push(performance.now() - started);
    check(found === null || found === result, 'a search gives the same answer every time');
    found = result;
  }
  times.sort((a, b) => a - b);
  return { ms: times[Math.floor(times.length / 2)]!, found: found! };
}

const scenario: Scenario = async (context) => {
  const hostileBytes = context.smoke ? SMOKE_HOSTILE_BYTES : HOSTILE_BYTES;
  const zeroBytes = context.smoke ? SMOKE_ZERO_BYTES : ZERO_BYTES;
  const runs = context.smoke ? SMOKE_RUNS : RUNS;
  const hostile = hostileTail(hostileBytes);
  const large = hostileTail(hostileBytes * SCALE_UP);
  const zeros = Buffer.alloc(zeroBytes);
  const valid = validFrame();

  const linear = timed(runs, () => findValidFrameAfter(hostile, 0, LAST_GOOD_SEQ));
  const plain = timed(runs, () => plainSearch(hostile, 0, LAST_GOOD_SEQ));
  check(linear.found === -1 && plain.found === -1, 'nothing valid in the hostile tail, for both searches');
  const linearLarge = timed(runs, () => findValidFrameAfter(large, 0, LAST_GOOD_SEQ));
  check(linearLarge.found === -1, 'nothing valid in the large hostile tail');
  const withFrame = Buffer.concat([hostile, valid]);
  check(findValidFrameAfter(withFrame, 0, LAST_GOOD_SEQ) === hostile.length && plainSearch(withFrame, 0, LAST_GOOD_SEQ) === hostile.length, 'both find a valid frame after the hostile tail');
  const linearZeros = timed(runs, () => findValidFrameAfter(zeros, 0, LAST_GOOD_SEQ));
  const plainZeros = timed(runs, () => plainSearch(zeros, 0, LAST_GOOD_SEQ));
  check(linearZeros.found === -1 && plainZeros.found === -1, 'nothing valid in the zeros, for both searches');
  context.log(`torn-tail: hostile ${hostileBytes} bytes linear ${linear.ms.toFixed(1)} ms, plain ${plain.ms.toFixed(0)} ms; x${SCALE_UP} linear ${linearLarge.ms.toFixed(0)} ms`);

  const nsPerByte = (ms: number, bytes: number): number => (ms * 1e6) / bytes;
  const largePerByte = nsPerByte(linearLarge.ms, large.length);
  const smallPerByte = nsPerByte(linear.ms, hostileBytes);
  return {
    scenario: 'torn-tail',
    sizes: { hostileBytes, largeHostileBytes: large.length, zeroBytes },
    figures: [
      versus(`linear search, hostile tail of ${hostileBytes} bytes`, linear.ms, 'ms', 'plain search (before), same tail', plain.ms),
      versus(`linear search per byte, hostile tail of ${large.length} bytes`, largePerByte, 'ns/op', `linear search per byte, hostile tail of ${hostileBytes} bytes`, smallPerByte, {
        target: `linear: at most ${LINEAR_SLACK}x the smaller tail's time per byte`,
        met: largePerByte <= LINEAR_SLACK * smallPerByte,
      }),
      versus(`linear search, ${zeroBytes} bytes of zeros`, linearZeros.ms, 'ms', 'plain search (before), same tail', plainZeros.ms),
    ],
  };
};

export default scenario;
