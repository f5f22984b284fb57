// Retention with an injected clock: when archived segments expire, the add events of numbers still
// on a list are carried forward (history and statusAt answer as before for them, same seq, at and
// hash), while the events of numbers no longer listed expire; an import keeps its input's name and
// SHA-256; a failed write of the carried file loses nothing (the segment stays, the next sweep
// carries it); verify still passes.

import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { listHistory } from '../../src/history/archive.js';
import { CARRIED_FILE } from '../../src/history/carry-forward.js';
import { verifyChain } from '../../src/history/verify-chain.js';
import { openDnc, type DurableDnc } from '../../src/open.js';
import { nodeFileSystem, type PersistFileSystem } from '../../src/persist/file-system.js';
import { errnoError, makeTempDir, recordingLogger, removeDir } from '../persist/helpers.js';

const DAY = 86_400_000;
const SHA = 'cd'.repeat(32);
let dir: string;
let now: number;
beforeEach(async () => {
  dir = await makeTempDir('idnc-carry-');
  now = Date.now();
});
afterEach(async () => {
  await removeDir(dir);
});

const options = (extra: { fileSystem?: PersistFileSystem } = {}) => ({ dataDir: dir, logger: recordingLogger(), historyRetentionMs: 30 * DAY, clock: () => now, ...extra });

const A = '5039367101';
const B = '5039367102';
const C = '5039367103';
const D = '5039367104';
const E = '5039367105';
const G = '5039367107';
const H = '5039367108';

/**
 * A and B in one add, C to project p, an import of D and E, G; then B and G removed; then G added
 * again, H added and removed; each round closed by a snapshot, then two more rounds so the first
 * ones are archived. Records carry the wall clock; the retention's clock is moved past them.
 */
async function scenario(dnc: DurableDnc): Promise<void> {
  await dnc.add([A, B], { source: 'web' });
  await dnc.add(C, { projId: 'p', source: 'ivr' });
  await dnc.addNumbers(Float64Array.of(Number(D), Number(E)), { keyId: 'cli', source: 'import', import: { sha256: SHA, name: 'old.csv', bytes: 22 } });
  await dnc.add(G);
  await dnc.snapshot();
  await dnc.remove(B);
  await dnc.remove(G);
  await dnc.snapshot();
  await dnc.add(G);
  await dnc.add(H);
  await dnc.remove(H);
  await dnc.snapshot();
  await dnc.add('5039367109');
  await dnc.snapshot();
  await dnc.add('5039367110');
  await dnc.snapshot();
}

async function historyOf(dnc: DurableDnc, phones: readonly string[]): Promise<Map<string, unknown[]>> {
  const result = new Map<string, unknown[]>();
  for (const phone of phones) result.set(phone, [...(await dnc.history(phone)).events]);
  return result;
}

const atOf = (event: unknown): number => Date.parse((event as { at: string }).at);

describe('expired history segments', () => {
  it('keep the add events of numbers still listed, with their seq, at and hash; the rest expires', async () => {
    let dnc = await openDnc(options());
    await scenario(dnc);
    const before = await historyOf(dnc, [A, B, C, D, E, G, H]);
    await dnc.close();
    const archived = await listHistory(dir);
    expect(archived.length).toBeGreaterThanOrEqual(3);

    now += 40 * DAY;
    dnc = await openDnc(options());
    const left = (await listHistory(dir)).map((segment) => segment.path);
    expect(left.length).toBeLessThan(archived.length);
    // Their summaries stay (without numbers): the chain state before each expired segment is kept.
    for (const segment of archived) if (!left.includes(segment.path)) expect(fs.existsSync(segment.path.replace(/\.idnclog$/, '.idncsum'))).toBe(true);
    const stat = await fs.promises.stat(path.join(dir, 'history', CARRIED_FILE));
    expect(stat.mode & 0o777).toBe(0o600);

    const after = await historyOf(dnc, [A, B, C, D, E, G, H]);
    // Still listed: the add events are what they were (A's record also named B, which is gone).
    expect(after.get(A)).toEqual(before.get(A));
    expect(after.get(C)).toEqual(before.get(C));
    expect(after.get(D)).toEqual(before.get(D));
    expect(after.get(D)![0]).toMatchObject({ op: 'add', import: { sha256: SHA, name: 'old.csv', bytes: 22, count: 2 } });
    expect(after.get(E)).toEqual(before.get(E));
    // G: the add that the expired remove ended expires with it; the add after it stays.
    expect(before.get(G)).toHaveLength(3);
    expect(after.get(G)).toEqual([before.get(G)![2]]);
    // No longer listed: their adds and removes expire.
    expect(before.get(B)).toHaveLength(2);
    expect(after.get(B)).toEqual([]);
    expect(after.get(H)).toEqual([]);

    const addedA = atOf(before.get(A)![0]);
    const addedG = atOf(before.get(G)![2]);
    expect(await dnc.statusAt(A, addedA)).toMatchObject({ onList: true, list: 'master', since: new Date(addedA).toISOString() });
    expect(await dnc.statusAt(A, addedA - 1)).toMatchObject({ onList: false });
    expect(await dnc.statusAt(C, addedA + DAY, { projId: 'p' })).toMatchObject({ onList: true, list: 'project' });
    expect(await dnc.statusAt(G, addedG - 1)).toMatchObject({ onList: false });
    expect(await dnc.statusAt(G, addedG)).toMatchObject({ onList: true, since: new Date(addedG).toISOString() });
    expect(await dnc.statusAt(B, addedA)).toMatchObject({ onList: false });
    await dnc.close();
    const verified = await verifyChain(dir, null);
    expect(verified.ok).toBe(true);
    // Seqs 1-10 expired (the last kept segment starts at 11): the adds of A (with B), C, D and E, G's second, and 5039367109.
    expect(verified.expired).toEqual({ segments: archived.length - left.length, throughSeq: 10, carried: 5, problem: null });

    // A later expiry carries the carried adds on, and a number removed since loses its carried add.
    dnc = await openDnc(options());
    await dnc.remove(A);
    for (let i = 0; i < 3; i++) {
      await dnc.add(String(5039367111 + i));
      await dnc.snapshot();
    }
    await dnc.close();
    now += 40 * DAY;
    dnc = await openDnc(options());
    expect((await dnc.history(A)).events).toEqual([]);
    expect((await dnc.history(D)).events).toEqual(before.get(D));
    expect((await dnc.history(G)).events).toEqual([before.get(G)![2]]);
    await dnc.close();
    expect((await verifyChain(dir, null)).ok).toBe(true);
  });

  it('verify names a carried file or an expired summary that was altered', async () => {
    let dnc = await openDnc(options());
    await scenario(dnc);
    await dnc.close();
    now += 40 * DAY;
    dnc = await openDnc(options());
    await dnc.close();
    const carried = path.join(dir, 'history', CARRIED_FILE);
    const bytes = await fs.promises.readFile(carried);
    bytes[bytes.length - 10]! ^= 1;
    await fs.promises.writeFile(carried, bytes);
    const report = await verifyChain(dir, null);
    expect(report.ok).toBe(false);
    expect(report.problem).toContain(CARRIED_FILE);
    bytes[bytes.length - 10]! ^= 1;
    await fs.promises.writeFile(carried, bytes);
    expect((await verifyChain(dir, null)).ok).toBe(true);
    const summaries = (await fs.promises.readdir(path.join(dir, 'history'))).filter((name) => name.endsWith('.idncsum')).sort();
    await fs.promises.writeFile(path.join(dir, 'history', summaries[0]!), 'not a summary');
    const broken = await verifyChain(dir, null);
    expect(broken.ok).toBe(false);
    expect(broken.problem).toContain(summaries[0]);
  });

  it('a failed write of the carried file loses nothing, a failed removal after it doubles nothing; the next sweep finishes', async () => {
    let dnc = await openDnc(options());
    await scenario(dnc);
    const before = await historyOf(dnc, [A, D, G]);
    await dnc.close();
    const archived = await listHistory(dir);

    now += 40 * DAY;
    for (const failing of ['fdatasync', 'rename'] as const) {
      let failures = 0;
      const temps = new Set<number>();
      const fileSystem: PersistFileSystem = {
        ...nodeFileSystem,
        open: async (file, flags) => {
          const fd = await nodeFileSystem.open(file, flags);
          if (file.endsWith(`${CARRIED_FILE}.tmp`)) temps.add(fd);
          return fd;
        },
        fdatasync: async (fd) => {
          if (failing === 'fdatasync' && temps.has(fd)) {
            failures++;
            throw errnoError('EIO');
          }
          return nodeFileSystem.fdatasync(fd);
        },
        rename: async (from, to) => {
          if (failing === 'rename' && to.endsWith(CARRIED_FILE)) {
            failures++;
            throw errnoError('ENOSPC');
          }
          return nodeFileSystem.rename(from, to);
        },
      };
      const logger = recordingLogger();
      dnc = await openDnc({ ...options({ fileSystem }), logger });
      expect(failures, failing).toBe(1);
      expect(logger.lines.some((line) => line.level === 'error' && line.message.includes('removing expired history failed'))).toBe(true);
      expect(await listHistory(dir)).toEqual(archived);
      expect(await historyOf(dnc, [A, D, G])).toEqual(before);
      await dnc.close();
    }

    // Carried, then the removal fails (as a crash between the two would leave it): no event is shown twice.
    let unlinks = 0;
    const failingUnlink: PersistFileSystem = {
      ...nodeFileSystem,
      unlink: async (file) => {
        if (file.endsWith('.idnclog') && file.includes(`${path.sep}history${path.sep}`)) {
          unlinks++;
          throw errnoError('EIO');
        }
        return nodeFileSystem.unlink(file);
      },
    };
    dnc = await openDnc(options({ fileSystem: failingUnlink }));
    expect(unlinks).toBe(1);
    expect(await listHistory(dir)).toEqual(archived);
    const halfway = await historyOf(dnc, [A, D, G]);
    expect(halfway.get(A)).toEqual(before.get(A));
    expect(halfway.get(D)).toEqual(before.get(D));
    expect(halfway.get(G)).toEqual([before.get(G)![2]]);
    await dnc.close();

    dnc = await openDnc(options());
    expect((await listHistory(dir)).length).toBeLessThan(archived.length);
    const after = await historyOf(dnc, [A, D, G]);
    expect(after.get(A)).toEqual(before.get(A));
    expect(after.get(D)).toEqual(before.get(D));
    expect(after.get(G)).toEqual([before.get(G)![2]]);
    await dnc.close();
    expect((await verifyChain(dir, null)).ok).toBe(true);
  });
});
