// A model of the history for property tests: seeded random adds, removes and list drops through a
// durable engine, with snapshots (which archive, and pack closed days) and restarts, the fake clock
// stepped between changes; then `statusAt` at random instants and `history` of every number must
// equal what the model says. Any failing seed replays exactly.

import { expect, vi } from 'vitest';
import { openDnc, type DurableDnc } from '../../src/open.js';

const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
export const NUMBERS = [5039367187, 5039367188, 2125551234, 3105550000, 9175550000];
export const ORGS = ['default', 'acme'];
const LISTS = ['', 'p1', 'p2'];
export const START = Date.parse('2026-01-01T00:00:00Z');

export interface Change {
  readonly seq: number;
  readonly ts: number;
  readonly org: string;
  readonly projId: string;
  readonly op: 'add' | 'remove' | 'drop';
  readonly numbers: readonly number[];
  readonly source: string;
}

export function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 48271) % 2147483647;
    return state / 2147483647;
  };
}

export const pick = <T>(next: () => number, values: readonly T[]): T => values[Math.floor(next() * values.length)]!;

/** The model: per list of the organisation, since when `number` is on it at `ts` (null: not on it). */
function modelStatus(changes: readonly Change[], org: string, number: number, ts: number): Map<string, number | null> {
  const since = new Map<string, number | null>();
  for (const change of changes) {
    if (change.ts > ts || change.org !== org) continue;
    if (change.op === 'drop') since.set(change.projId, null);
    else if (change.numbers.includes(number)) {
      if (change.op === 'add') since.set(change.projId, since.get(change.projId) ?? change.ts);
      else since.set(change.projId, null);
    }
  }
  return since;
}

export function modelEvents(changes: readonly Change[], org: string, number: number): { seq: number; op: string; projId: string | null; source: string }[] {
  const on = new Map<string, boolean>();
  const events = [];
  for (const change of changes) {
    if (change.org !== org) continue;
    if (change.op === 'drop') {
      if (on.get(change.projId) === true) events.push({ seq: change.seq, op: 'remove', projId: change.projId, source: change.source });
      on.set(change.projId, false);
    } else if (change.numbers.includes(number)) {
      on.set(change.projId, change.op === 'add');
      events.push({ seq: change.seq, op: change.op, projId: change.projId === '' ? null : change.projId, source: change.source });
    }
  }
  return events;
}

export interface ModelRun {
  readonly changes: Change[];
  /** The fake clock's time after the last step. */
  readonly now: number;
}

/**
 * `steps` random changes, snapshots and restarts on `dnc()`'s directory, the fake clock stepped by
 * one of `stepsMs` before each; `open` opens the engine again after a restart. Returns the engine
 * left open and what the model knows.
 */
export async function driveChanges(seed: number, steps: number, stepsMs: readonly number[], open: () => Promise<DurableDnc>): Promise<{ dnc: DurableDnc; run: ModelRun; next: () => number }> {
  const next = random(seed);
  let now = START;
  let dnc = await open();
  const changes: Change[] = [];
  for (let step = 0; step < steps; step++) {
    now += pick(next, stepsMs);
    vi.setSystemTime(now);
    const roll = next();
    const org = pick(next, ORGS);
    if (roll < 0.05) await dnc.snapshot();
    else if (roll < 0.08) {
      await dnc.close();
      dnc = await open();
    } else if (roll < 0.12) {
      const projId = pick(next, ['p1', 'p2']);
      if (dnc.count({ org, projId }) === 0) continue;
      const dropped = await dnc.dropList({ org, projId });
      changes.push({ seq: dropped.seq, ts: now, org, projId, op: 'drop', numbers: [], source: 'api' });
    } else {
      const op = next() < 0.6 ? 'add' : 'remove';
      const projId = pick(next, LISTS);
      const numbers = [...new Set([pick(next, NUMBERS), pick(next, NUMBERS)])];
      const source = pick(next, ['api', 'ivr', 'web']);
      const options = { org, projId, ...(source === 'api' ? {} : { source }) };
      const result = op === 'add' ? await dnc.add(numbers.map(String), options) : await dnc.remove(numbers.map(String), options);
      changes.push({ seq: result.seq, ts: now, org, projId, op, numbers, source });
    }
  }
  return { dnc, run: { changes, now }, next };
}

/** `probes` statusAt answers at random instants (half of them a change's own) and every number's history equal the model's. */
export async function expectModelAnswers(dnc: Pick<DurableDnc, 'history' | 'statusAt'>, run: ModelRun, next: () => number, label: string, probes = 40): Promise<void> {
  const { changes, now } = run;
  for (let probe = 0; probe < probes; probe++) {
    const number = pick(next, NUMBERS);
    const org = pick(next, ORGS);
    const projId = pick(next, LISTS);
    // Half the instants are exactly a change's time: the change counts as made at that instant.
    const at = next() < 0.5 ? pick(next, changes).ts : START + Math.floor(next() * (now - START + 120_000)) - 60_000;
    const since = modelStatus(changes, org, number, at);
    const project = projId === '' ? null : (since.get(projId) ?? null);
    const master = since.get('') ?? null;
    const expected = project !== null ? { list: 'project', since: project } : master !== null ? { list: 'master', since: master } : { list: null, since: null };
    const lastSeq = changes.filter((change) => change.ts <= at).at(-1)?.seq ?? 0;
    const answer = await dnc.statusAt(String(number), new Date(at).toISOString(), { org, projId });
    expect(answer, `${label}: ${number} in ${org}/${projId || 'master'} at ${new Date(at).toISOString()}`).toEqual({
      phone: String(number),
      at: new Date(at).toISOString(),
      onList: expected.list !== null,
      list: expected.list,
      since: expected.since === null ? null : new Date(expected.since).toISOString(),
      seq: lastSeq,
    });
  }
  for (const org of ORGS) {
    for (const number of NUMBERS) {
      const { events } = await dnc.history(String(number), { org });
      expect(events.map(({ seq, op, projId, source }) => ({ seq, op, projId, source })), `${label}: history of ${number} in ${org}`).toEqual(modelEvents(changes, org, number));
    }
  }
}

export const quietLogger = quiet;
