// A walk of the hash chain shares the event loop with the writer (a snapshot walks every record
// since the last one): it must give the loop a turn every few records, or group commits stall
// behind it for the whole walk. Counted in records between turns of the loop, not in time.

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HISTORY_CHAIN_WALK_RECORDS_PER_TURN } from '../../src/constants.js';
import { anchorState } from '../../src/history/chain.js';
import { walkChain } from '../../src/history/chain-walk.js';
import { openDnc } from '../../src/open.js';
import { makeTempDir, numbers, removeDir } from '../persist/helpers.js';

const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
let dir: string;
beforeEach(async () => {
  dir = await makeTempDir('idnc-chain-walk-');
});
afterEach(async () => {
  await removeDir(dir);
});

describe('walkChain', () => {
  it(`hashes at most ${HISTORY_CHAIN_WALK_RECORDS_PER_TURN} records between two turns of the event loop`, async () => {
    const records = 1_000;
    const dnc = await openDnc({ dataDir: dir, logger: quiet, fsync: 'none' });
    await Promise.all(numbers(records).map((digits) => dnc.add(digits, { source: 'ivr', reason: 'pressed 9' })));
    let sinceTurn = 0;
    let mostBetweenTurns = 0;
    let walking = true;
    const turn = (): void => {
      sinceTurn = 0;
      if (walking) setImmediate(turn);
    };
    setImmediate(turn);
    const onState = (): void => {
      sinceTurn++;
      mostBetweenTurns = Math.max(mostBetweenTurns, sinceTurn);
    };
    const walked = await walkChain(dir, anchorState(0), { onState });
    walking = false;
    await dnc.close();
    expect(walked.stop).toBeNull();
    expect(walked.state.seq).toBe(records);
    expect(mostBetweenTurns).toBeGreaterThan(0);
    expect(mostBetweenTurns).toBeLessThanOrEqual(HISTORY_CHAIN_WALK_RECORDS_PER_TURN);
  });
});
