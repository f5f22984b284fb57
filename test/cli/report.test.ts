// `idnc report requests` as users run it: the built CLI in a child process on a data directory a
// library writer filled with adds whose requests came in at known times; and on one whose oldest
// segments expired under an injected retention clock, where the adds still listed were carried.

import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDnc, type DurableDnc } from '../../src/index.js';
import { listHistory } from '../../src/history/archive.js';
import { CARRIED_FILE } from '../../src/history/carry-forward.js';
import { LOG_RECORD_NUMBERS_MAX } from '../../src/constants.js';
import { CliSandbox } from './helpers.js';

const DAY_MS = 86_400_000;
const sandbox = new CliSandbox();
let dir: string;
let dataDir: string;
const day = (ms: number): string => new Date(ms).toISOString().slice(0, 10);
const now = Date.now();

beforeAll(async () => {
  dir = await sandbox.create('idnc-report-');
  dataDir = join(dir, 'data');
  const dnc = await openDnc({ dataDir });
  await dnc.add('5039367187', { org: 'acme', requestedAt: now - 60_000, source: 'ivr' });
  await dnc.add('4155550100,4155550101,4155550102', { org: 'acme', projId: 'spring', requestedAt: new Date(now - 40 * DAY_MS).toISOString() });
  await dnc.remove('5039367187', { org: 'acme' });
  await dnc.add('3125550199', { org: 'other' });
  await dnc.addNumbers(Float64Array.of(6175550100, 6175550101), { org: 'acme', keyId: 'cli', source: 'import', import: { sha256: 'ab'.repeat(32), name: 'march.csv', bytes: 4096, count: 5, part: 2, parts: 3 } });
  await dnc.close();
});
afterAll(() => sandbox.dispose());

const idnc = (args: string[], data = dataDir) => sandbox.run(['report', 'requests', ...args, '--data-dir', data]);

describe('idnc report requests', () => {
  it('lists every add requested in the range, flags the late one and exits 1', async () => {
    const run = await idnc(['--from', day(now - 45 * DAY_MS), '--to', day(now), '--csv']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(1);
    const rows = run.stdout.trimEnd().split('\r\n').map((line) => line.split(','));
    expect(rows[0]).toEqual(['seq', 'org', 'list', 'projId', 'numbers', 'phone', 'source', 'keyId', 'requestedAt', 'effectiveAt', 'businessDays', 'late', 'importName', 'importSha256', 'importBytes', 'importCount', 'importPart']);
    expect(rows.slice(1).map((row) => [...row.slice(0, 8), row[11], ...row.slice(12)])).toEqual([
      ['1', 'acme', 'master', '', '1', '5039367187', 'ivr', 'library', 'false', '', '', '', '', ''],
      ['2', 'acme', 'project', 'spring', '3', '', 'api', 'library', 'true', '', '', '', '', ''],
      ['4', 'other', 'master', '', '1', '3125550199', 'api', 'library', 'false', '', '', '', '', ''],
      // One part of an input sent in several changes: its two numbers, and the whole input's name, hash, size and count.
      ['5', 'acme', 'master', '', '2', '', 'import', 'cli', 'false', 'march.csv', 'ab'.repeat(32), '4096', '5', '2/3'],
    ]);
    expect(Number(rows[2]![10])).toBeGreaterThan(10);
  });

  it('selects by the day of the request and by organisation; exit 0 when nothing is late', async () => {
    const recent = await idnc(['--from', day(now - 2 * DAY_MS), '--to', day(now + DAY_MS)]);
    expect(recent.code).toBe(0);
    expect(recent.stdout).toMatch(/acme master\s+5039367187/);
    expect(recent.stdout).not.toContain('spring');
    expect(recent.stdout).toMatch(/acme master\s+2 from march\.csv \(part 2 of 3\)/);
    expect(recent.stdout.trimEnd().split('\n').at(-1)).toBe('3 add(s), 0 over 10 business days');
    const other = await idnc(['--from', day(now - 45 * DAY_MS), '--to', day(now), '--org', 'other']);
    expect(other.code).toBe(0);
    expect(other.stdout).toContain('other master');
    expect(other.stdout).not.toContain('acme');
  });

  it('refuses bad arguments with exit 2 and a message naming them', async () => {
    const badDate = await idnc(['--from', '2026-02-30', '--to', '2026-03-01']);
    expect(badDate.code).toBe(2);
    expect(badDate.stderr).toContain('--from "2026-02-30"');
    const reversed = await idnc(['--from', '2026-03-02', '--to', '2026-03-01']);
    expect(reversed.code).toBe(2);
    expect(reversed.stderr).toContain('is after --to');
    const zone = await idnc(['--from', '2026-03-01', '--to', '2026-03-02', '--time-zone', 'Mars/Olympus']);
    expect(zone.code).toBe(2);
    expect(zone.stderr).toContain('not an IANA time zone');
    expect(zone.stdout).toBe('');
  });
});

describe('idnc report requests past the retention', () => {
  /**
   * `changes` written into a new data directory under a 30-day retention, then two rounds of
   * another organisation's adds (each closed by a snapshot, so the changes' segments are archived);
   * reopened with the retention's clock 40 days on, which expires the archive and carries the adds
   * still listed. Then the CSV report of the changes' organisation, acme, over the days around now.
   */
  async function reportAfterExpiry(name: string, changes: (dnc: DurableDnc) => Promise<void>): Promise<{ dataDir: string; rows: string[][] }> {
    const expiredDir = join(dir, name);
    let clockMs = now;
    const options = { dataDir: expiredDir, historyRetentionMs: 30 * DAY_MS, clock: () => clockMs, logger: { info: () => undefined, warn: () => undefined, error: () => undefined } };
    const dnc = await openDnc(options);
    await changes(dnc);
    await dnc.snapshot();
    for (let i = 0; i < 2; i++) {
      await dnc.add(String(5039367110 + i), { org: 'other' });
      await dnc.snapshot();
    }
    await dnc.close();
    clockMs += 40 * DAY_MS;
    await (await openDnc(options)).close();
    const run = await idnc(['--from', day(now - DAY_MS), '--to', day(now + DAY_MS), '--org', 'acme', '--csv'], expiredDir);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    return { dataDir: expiredDir, rows: run.stdout.trimEnd().split('\r\n').slice(1).map((line) => line.split(',')) };
  }

  it('lists an add carried forward when its segment expired, and not the add a remove ended', async () => {
    const { dataDir: expiredDir, rows } = await reportAfterExpiry('expired', async (dnc) => {
      await dnc.add('5039367101', { org: 'acme', requestedAt: now - 60_000, source: 'mail' });
      await dnc.add('5039367102', { org: 'acme' });
      await dnc.snapshot();
      await dnc.remove('5039367102', { org: 'acme' });
    });
    // Seqs 1-3 are gone from history/: the add of 5039367101 is kept only as a carried add.
    expect((await listHistory(expiredDir)).every((segment) => segment.firstSeq > 3)).toBe(true);
    expect(existsSync(join(expiredDir, 'history', CARRIED_FILE))).toBe(true);
    expect(rows.map((row) => [row[0], row[1], row[4], row[5], row[6]])).toEqual([['1', 'acme', '1', '5039367101', 'mail']]);
  });

  it('reports an import split over several records and carried only in part as one row of its carried records, with its input, apart from the next add', { timeout: 60_000 }, async () => {
    const count = LOG_RECORD_NUMBERS_MAX + 1000;
    const numbers = new Float64Array(count);
    for (let i = 0; i < count; i++) numbers[i] = 2_122_000_000 + Math.floor(i / 10_000) * 10_000 + (i % 10_000);
    const input = { sha256: 'cd'.repeat(32), name: 'big.csv', bytes: 12_345_678 };
    const { dataDir: expiredDir, rows } = await reportAfterExpiry('expired-split', async (dnc) => {
      await dnc.addNumbers(numbers.slice(), { org: 'acme', keyId: 'cli', source: 'import', import: input });
      await dnc.add('5039367101', { org: 'acme', source: 'mail' });
      // The import's last record holds its 1,000 largest numbers: removed, that record is not carried.
      await dnc.removeNumbers(numbers.slice(LOG_RECORD_NUMBERS_MAX), { org: 'acme' });
    });
    expect((await listHistory(expiredDir)).every((segment) => segment.firstSeq > 4)).toBe(true);
    expect(rows.map((row) => [row[0], row[4], row[5], row[6], ...row.slice(12)])).toEqual([
      ['1', String(LOG_RECORD_NUMBERS_MAX), '', 'import', 'big.csv', input.sha256, String(input.bytes), String(count), ''],
      ['3', '1', '5039367101', 'mail', '', '', '', '', ''],
    ]);
  });
});
