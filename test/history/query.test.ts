// History queries interleaved with writes: each query sees every change acknowledged before it,
// while the live segment it summarised earlier keeps growing (its summary is extended, not rebuilt),
// and a query never shows a change the engine has not applied.

import { afterEach, beforeEach, expect, it } from 'vitest';
import { openDnc } from '../../src/open.js';
import { makeTempDir, removeDir } from '../persist/helpers.js';

const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
let dir: string;
beforeEach(async () => {
  dir = await makeTempDir('idnc-query-');
});
afterEach(async () => {
  await removeDir(dir);
});

it('sees every acknowledged change of a number as the live segment grows between queries', async () => {
  const dnc = await openDnc({ dataDir: dir, logger: quiet, segmentBytesMax: 2048 });
  const numbers = ['5039367187', '2125551234', '3105550000'];
  const expected = new Map(numbers.map((number) => [number, 0]));
  for (let round = 0; round < 60; round++) {
    const number = numbers[round % 3]!;
    // Others' changes are acknowledged in between: the segment grows past what this number's summary held.
    await Promise.all([dnc.add(number, { projId: round % 2 === 0 ? '' : 'p' }), dnc.add('9175550000')]);
    expected.set(number, expected.get(number)! + 1);
    for (const each of numbers) expect((await dnc.history(each)).events, `round ${round}, ${each}`).toHaveLength(expected.get(each)!);
    expect((await dnc.statusAt(number, Date.now())).onList).toBe(round % 2 === 0 || round >= 3);
  }
  await dnc.close();
});
