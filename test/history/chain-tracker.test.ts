// The head a durable engine, a follower and `idnc history head` print is the reference chain over
// every record the log ever held, across group commits, segment rotations, a bulk change,
// snapshots that compact segments away, and restarts.

import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDnc } from '../../src/open.js';
import { ChainTracker } from '../../src/history/chain-tracker.js';
import { verifyChain } from '../../src/history/verify-chain.js';
import { snapshotPath } from '../../src/persist/data-dir.js';
import { nodeFileSystem } from '../../src/persist/file-system.js';
import { recoverDataDir } from '../../src/persist/recovery.js';
import { captureStore, writeSnapshot } from '../../src/persist/snapshot.js';
import { DncStore } from '../../src/store/dnc-store.js';
import { makeTempDir, removeDir } from '../persist/helpers.js';
import { framesOf, referenceHead, segmentFiles } from './chain-reference.js';

const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
let dir: string;
beforeEach(async () => {
  dir = await makeTempDir('idnc-chain-');
});
afterEach(async () => {
  await removeDir(dir);
});

/** Every segment file seen so far, by name: a file seen again is longer (segments only grow). */
const seen = new Map<string, Buffer>();
async function remember(): Promise<void> {
  for (const [name, bytes] of await segmentFiles(dir)) seen.set(name, bytes);
}
function expected(): string {
  return referenceHead([...seen.keys()].sort().map((name) => framesOf(seen.get(name)!)));
}

describe('the head of a durable engine', () => {
  it('is the reference chain through rotations, a bulk change, snapshots with compaction, and restarts', async () => {
    seen.clear();
    let dnc = await openDnc({ dataDir: dir, logger: quiet, segmentBytesMax: 600 });
    await Promise.all(Array.from({ length: 20 }, (_, i) => dnc.add(String(5039367100 + i), { source: 'web', reason: `r${i}` })));
    for (let i = 0; i < 10; i++) await dnc.remove(String(5039367100 + i), { projId: 'p' });
    await dnc.addNumbers(Float64Array.from({ length: 70_000 }, (_, i) => 2125550000 + i));
    await remember();
    const first = await dnc.historyHead();
    expect(first).toMatchObject({ seq: dnc.lastSeq, hash: expected() });
    expect(Date.parse(first.at!)).toBeGreaterThan(Date.now() - 60_000);
    await dnc.snapshot();
    await dnc.add('5039367187');
    await remember();
    expect((await dnc.historyHead()).hash).toBe(expected());
    await dnc.snapshot();
    await dnc.add('5039367188');
    await remember();
    const beforeClose = await dnc.historyHead();
    await dnc.close();
    expect(beforeClose.hash).toBe(expected());
    expect((await segmentFiles(dir)).size).toBeLessThan(seen.size);

    dnc = await openDnc({ dataDir: dir, logger: quiet, segmentBytesMax: 600 });
    expect(await dnc.historyHead()).toEqual(beforeClose);
    await dnc.add('5039367189', { requestedAt: '2026-03-01T15:04:05Z' });
    await dnc.remove('5039367189');
    await remember();
    const afterRestart = await dnc.historyHead();
    expect(afterRestart).toMatchObject({ seq: beforeClose.seq + 2, hash: expected() });

    const follower = await openDnc({ dataDir: dir, logger: quiet, readOnly: true, watch: false });
    await follower.waitFor(dnc.lastSeq, 10_000);
    expect(await follower.historyHead()).toEqual(afterRestart);
    await follower.close();
    await dnc.close();
  }, 60_000);

  it('an in-memory engine logs nothing: its chain is empty', async () => {
    const dnc = await openDnc();
    await dnc.add('5039367187');
    expect(await dnc.historyHead()).toEqual({ seq: 0, at: null, hash: '0'.repeat(64) });
    await dnc.close();
  });
});

describe('ChainTracker', () => {
  it('goes back to an earlier seq from the snapshots, and refuses a seq the log does not hold', async () => {
    seen.clear();
    const dnc = await openDnc({ dataDir: dir, logger: quiet });
    for (let i = 0; i < 5; i++) await dnc.add(String(5039367100 + i));
    await remember();
    const atThree = referenceHead([[...seen.values()].flatMap((bytes) => framesOf(bytes)).slice(0, 3)]);
    await dnc.close();
    const tracker = new ChainTracker(path.resolve(dir));
    expect((await tracker.headAt(5)).hash).toBe(expected());
    expect((await tracker.headAt(3)).hash).toBe(atThree);
    await expect(tracker.headAt(6)).rejects.toMatchObject({ code: 'DATA_CORRUPT', message: expect.stringContaining('the log ends at seq 5') });
  });
});

describe('a directory written before the chain', () => {
  it('starts its chain after its newest snapshot (the origin), and every reader agrees on the heads after it', async () => {
    seen.clear();
    const dnc = await openDnc({ dataDir: dir, logger: quiet });
    for (let i = 0; i < 3; i++) await dnc.add(String(5039367100 + i));
    await dnc.close();
    // What an idnc older than the chain leaves: a snapshot at seq 3 whose header has no `chain`.
    const snapshot = snapshotPath(path.resolve(dir), 3);
    fs.rmSync(snapshot);
    const store = new DncStore();
    await recoverDataDir(store, { dataDir: path.resolve(dir), fileSystem: nodeFileSystem, logger: quiet, mode: 'read' });
    const captured = captureStore(store);
    await writeSnapshot(nodeFileSystem, path.resolve(dir), snapshot, 3, captured);
    captured.release();
    const upgraded = await openDnc({ dataDir: dir, logger: quiet });
    await upgraded.add('5039367187');
    await upgraded.add('5039367188');
    const head = await upgraded.historyHead();
    await remember();
    const frames = [...seen.values()].flatMap((bytes) => framesOf(bytes));
    expect(head).toMatchObject({ seq: 5, hash: referenceHead([frames.slice(3)]) });
    await upgraded.close();
    expect(await new ChainTracker(path.resolve(dir)).headAt(5)).toEqual(head);
    expect(await verifyChain(path.resolve(dir), null)).toMatchObject({ ok: true, fromSeq: 3, problem: null });
  });
});

describe('a follower', () => {
  it('answers history and statusAt from the data directory as the writer does, archived segments included', async () => {
    const writer = await openDnc({ dataDir: dir, logger: quiet });
    for (let round = 0; round < 3; round++) {
      await writer.add('5039367187', { source: 'web', projId: round === 1 ? 'p' : '' });
      await writer.snapshot();
    }
    await writer.remove('5039367187');
    const follower = await openDnc({ dataDir: dir, logger: quiet, readOnly: true, watch: false });
    await follower.waitFor(writer.lastSeq, 10_000);
    const expected = await writer.history('5039367187');
    expect(expected.events).toHaveLength(4);
    expect(await follower.history('5039367187')).toEqual(expected);
    const at = expected.events[1]!.at;
    expect(await follower.statusAt('5039367187', at, { projId: 'p' })).toEqual(await writer.statusAt('5039367187', at, { projId: 'p' }));
    await follower.close();
    await writer.close();
  });
});
