// Which copies of the durable-seq mark startup counts as acknowledged: only copies written after
// the log records they cover were flushed, which the writer's fsync mode in each copy tells; a mark
// of an older writer (the field zero) is read as before its flushed copy, or its only copy, counts.

import fs from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DURABLE_MARK_FLUSHED_OFFSET } from '../../src/constants.js';
import { decodeMark, durableMarkPath, encodeMark, readAcknowledgedSeq, type DurableMark } from '../../src/persist/durable-mark.js';
import { makeTempDir, removeDir } from './helpers.js';

let dir: string;
beforeEach(async () => {
  dir = await makeTempDir();
});
afterEach(async () => {
  await removeDir(dir);
});

const mark = (seq: number, fsync: DurableMark['fsync']): DurableMark => ({ epoch: '0123456789abcdef', baseSeq: 1, seq, fsync });

/** A mark file: the shown copy, and the flushed copy unless null. */
function writeMark(shown: DurableMark, flushed: DurableMark | null): void {
  const bytes = flushed === null ? encodeMark(shown) : Buffer.concat([encodeMark(shown), Buffer.alloc(DURABLE_MARK_FLUSHED_OFFSET - encodeMark(shown).length), encodeMark(flushed)]);
  fs.writeFileSync(durableMarkPath(dir), bytes);
}

describe('the acknowledged seq startup reads from the mark', () => {
  it.each([
    ['a writer under always: both copies', mark(9, 'always'), mark(8, 'always'), 9],
    ['a writer under interval: neither copy (the shown one may be ahead of the log on disk)', mark(9, 'interval'), mark(3, 'interval'), null],
    ['a writer under none: neither copy', mark(9, 'none'), mark(3, 'none'), null],
    ['an older writer: its flushed copy only', mark(9, null), mark(3, null), 3],
    ['an older writer without a flushed copy: its only copy', mark(9, null), null, 9],
  ] as const)('%s', async (_, shown, flushed, expected) => {
    writeMark(shown, flushed);
    expect(await readAcknowledgedSeq(dir)).toBe(expected);
  });

  it('keeps the layout an older reader checks: the mode is inside the checksummed bytes, zero for an older writer', () => {
    const older = encodeMark(mark(5, null));
    expect(older.readUInt32LE(32)).toBe(0);
    const always = encodeMark(mark(5, 'always'));
    expect(always.subarray(0, 32)).toEqual(older.subarray(0, 32));
    expect(decodeMark(always)).toEqual(mark(5, 'always'));
    expect(decodeMark(older)).toEqual(mark(5, null));
  });
});
