// Reading records back from a writer's log files as the bytes the log stores (what a writer
// publishes when the stream is behind it): from any seq, across segments, no further than asked,
// a record larger than the read window whole, and null once the seq is no longer in the log.

import fs from 'node:fs';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { openDnc } from '../../src/index.js';
import { listDataDir } from '../../src/persist/data-dir.js';
import { scanSegment } from '../../src/persist/segment-scan.js';
import { LogFrames } from '../../src/replicate/log-frames.js';
import { frameSeq } from '../../src/replicate/stream-records.js';
import { makeTempDir, numbers, recordingLogger, removeDir } from '../persist/helpers.js';

let dir: string;
beforeEach(async () => {
  dir = await makeTempDir('idnc-log-frames-');
});
afterEach(async () => {
  await removeDir(dir);
});

/** Every record of the log, as framed bytes, by seq (read independently of LogFrames). */
async function allFrames(): Promise<Map<number, Buffer>> {
  const frames = new Map<number, Buffer>();
  for (const segment of (await listDataDir(dir)).segments) {
    const bytes = await fs.promises.readFile(segment.path);
    const offsets: number[] = [];
    const scan = scanSegment(bytes, segment.firstSeq, (_record, offset) => offsets.push(offset));
    offsets.push(scan.endOffset);
    for (let i = 0; i + 1 < offsets.length; i++) frames.set(segment.firstSeq + i, bytes.subarray(offsets[i], offsets[i + 1]));
  }
  return frames;
}

it('reads the records of any seq range, across segments, as the log stores them', async () => {
  const dnc = await openDnc({ dataDir: dir, logger: recordingLogger(), segmentBytesMax: 400 });
  for (let i = 0; i < 20; i++) await dnc.add(numbers(1, 2_125_550_000 + i));
  await dnc.close();
  expect((await listDataDir(dir)).segments.length).toBeGreaterThan(2);
  const expected = await allFrames();
  const reader = new LogFrames(dir);
  // A read ends at most at the end of a segment; the next one continues in the next segment.
  const first = (await reader.read(3, 20, 2))!;
  expect(first.map(frameSeq)).toEqual([3, 4]);
  const rest: Buffer[] = [];
  while (5 + rest.length <= 18) {
    const read = (await reader.read(5 + rest.length, 18, 1000))!;
    expect(read.length).toBeGreaterThan(0);
    rest.push(...read);
  }
  expect(rest.map(frameSeq)).toEqual(Array.from({ length: 14 }, (_, i) => 5 + i));
  for (const frame of [...first, ...rest]) expect(frame.equals(expected.get(frameSeq(frame))!)).toBe(true);
  expect(await reader.read(21, 30, 10)).toEqual([]);
});

it('reads a record larger than its read window whole, and null for a seq no longer in the log', async () => {
  const dnc = await openDnc({ dataDir: dir, logger: recordingLogger() });
  await dnc.add(numbers(1));
  const bulk = new Float64Array(1_048_576).map((_, i) => 2_122_000_000 + i * 7);
  await dnc.addNumbers(bulk);
  await dnc.add(numbers(1, 3_125_550_000));
  const expected = await allFrames();
  expect(expected.get(2)!.length).toBeGreaterThan(1024 * 1024);
  const reader = new LogFrames(dir);
  const frames: Buffer[] = [];
  while (frames.length < 3) frames.push(...(await reader.read(frames.length + 1, 3, 10))!);
  expect(frames.map(frameSeq)).toEqual([1, 2, 3]);
  for (const frame of frames) expect(frame.equals(expected.get(frameSeq(frame))!)).toBe(true);
  await dnc.snapshot();
  await dnc.add(numbers(1, 4_125_550_000));
  await dnc.snapshot();
  await dnc.add(numbers(1, 5_125_550_000));
  await dnc.snapshot();
  await dnc.close();
  expect(await new LogFrames(dir).read(1, 3, 10)).toBeNull();
});

it('stops before a record whose checksum fails: nothing after it is read for publishing', async () => {
  const dnc = await openDnc({ dataDir: dir, logger: recordingLogger() });
  for (let i = 0; i < 5; i++) await dnc.add(numbers(1, 2_125_550_000 + i));
  await dnc.close();
  const frames = await allFrames();
  const segment = (await listDataDir(dir)).segments[0]!;
  const bytes = await fs.promises.readFile(segment.path);
  const third = bytes.indexOf(frames.get(3)!);
  bytes[third + frames.get(3)!.length - 1]! ^= 0xff;
  await fs.promises.writeFile(segment.path, bytes);
  expect((await new LogFrames(dir).read(1, 5, 10))!.map(frameSeq)).toEqual([1, 2]);
});
