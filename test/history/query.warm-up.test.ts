// The read-ahead an engine starts at open (Dnc.warmHistory, HistoryReader.warm): the first history
// query of a process reads every pack's index, so an engine reads them as soon as it opens. A query
// made while that is under way waits for the same reads (each index is read once) and answers as a
// reader that never warmed up; a query made after it reads no index at all.

import fs from 'node:fs';
import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import { readHistoryListing } from '../../src/history/archive.js';
import { HistoryReader } from '../../src/history/query.js';
import { openDnc } from '../../src/open.js';
import { makeTempDir, removeDir } from '../persist/helpers.js';
import { driveChanges, expectModelAnswers, NUMBERS, ORGS, quietLogger } from './history-model.js';

const DAY = 86_400_000;
const STEPS_MS = [0, 1, 1000, 60_000, 3_600_000, 6 * 3_600_000, DAY];
/** A number no change names. */
const UNNAMED = '2025550100';
let dir: string;
beforeEach(async () => {
  dir = await makeTempDir('idnc-history-warm-');
});
afterEach(async () => {
  vi.restoreAllMocks();
  vi.useRealTimers();
  await removeDir(dir);
});

/** A directory of several packs (each UTC day packed as snapshots archive it), and what the model knows. */
async function packedYears(): Promise<Awaited<ReturnType<typeof driveChanges>>> {
  vi.useFakeTimers({ toFake: ['Date'] });
  const driven = await driveChanges(2, 120, STEPS_MS, () => openDnc({ dataDir: dir, logger: quietLogger, segmentBytesMax: 400, snapshotIntervalMs: 3_600_000 }));
  await driven.dnc.snapshot();
  await driven.dnc.close();
  vi.useRealTimers();
  return driven;
}

/** Counts the opens of pack files (an index read opens its pack once; a query of a number no record names, in an organisation with no records (nor drops), opens no other). */
function countPackOpens(): { count: number } {
  const counter = { count: 0 };
  const open = fs.promises.open.bind(fs.promises);
  vi.spyOn(fs.promises, 'open').mockImplementation((file, ...rest) => {
    if (String(file).endsWith('.idncpack')) counter.count++;
    return open(file, ...rest);
  });
  return counter;
}

/** Every number's history in every organisation, and one in an organisation with no records. */
async function answers(history: (number: number, org: string) => Promise<unknown>): Promise<unknown[]> {
  const all: unknown[] = [];
  for (const org of [...ORGS, 'nobody']) for (const number of NUMBERS) all.push(await history(number, org));
  return all;
}

it('a query made during the warm-up reads each index once, and a query after it reads none, answering as a cold reader', async () => {
  const { run, next } = await packedYears();
  const packs = (await readHistoryListing(dir)).packs.length;
  expect(packs).toBeGreaterThan(2);
  const cold = await answers(async (number, org) => (await new HistoryReader(dir).events(number, { org }, Number.MAX_SAFE_INTEGER)));

  const opens = countPackOpens();
  const during = await openDnc({ dataDir: dir, readOnly: true, logger: quietLogger });
  try {
    // Made at once, while the read-ahead started at open is under way.
    const first = during.history(UNNAMED, { org: 'nobody' });
    expect((await first).events).toEqual([]);
    await during.warmHistory();
    expect(opens.count, 'each pack index read once by the warm-up and the query together').toBe(packs);
    expect(await answers(async (number, org) => (await during.history(String(number), { org })).events)).toEqual(cold);
    await expectModelAnswers(during, run, next, 'queried during the warm-up');
  } finally {
    await during.close();
  }

  const after = await openDnc({ dataDir: dir, readOnly: true, logger: quietLogger });
  try {
    await after.warmHistory();
    opens.count = 0;
    expect((await after.history(UNNAMED, { org: 'nobody' })).events).toEqual([]);
    expect(opens.count, 'the first query after the warm-up reads no index').toBe(0);
    expect(await answers(async (number, org) => (await after.history(String(number), { org })).events)).toEqual(cold);
  } finally {
    await after.close();
  }
});
