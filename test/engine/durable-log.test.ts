// The durable engine through the public API: changes survive a reopen, concurrent writes share
// fdatasyncs (group commit), a change is visible only once durable, snapshots taken while writing
// reload to the same digest, and one writer per data directory.

import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DurableDnc, IdncError, openDnc, type DurableDncOptions } from '../../src/index.js';
import { nodeFileSystem } from '../../src/persist/file-system.js';
import { FaultyFileSystem, makeTempDir, numbers, recordingLogger, removeDir } from '../persist/helpers.js';

let dir: string;
beforeEach(async () => {
  dir = await makeTempDir();
});
afterEach(async () => {
  await removeDir(dir);
});

async function open(options: Partial<Omit<DurableDncOptions, 'dataDir' | 'readOnly'>> = {}): Promise<DurableDnc> {
  return openDnc({ dataDir: dir, logger: recordingLogger(), ...options });
}

describe('durable engine', () => {
  it('keeps adds and removes of every list across a reopen, with gapless seqs', async () => {
    const dnc = await open();
    const first = await dnc.add(numbers(3), { keyId: 'k1' });
    const second = await dnc.add(numbers(2, 3_125_550_000), { projId: 'p1' });
    const third = await dnc.add(numbers(1, 4_155_550_000), { org: 'acme' });
    const fourth = await dnc.remove(numbers(1));
    expect([first.seq, second.seq, third.seq, fourth.seq]).toEqual([1, 2, 3, 4]);
    expect(fourth.changed).toBe(1);
    const digest = dnc.digest();
    await dnc.close();

    const again = await open();
    expect(again.digest()).toBe(digest);
    expect(again.count()).toBe(2);
    expect(again.count({ projId: 'p1' })).toBe(2);
    expect(again.count({ org: 'acme' })).toBe(1);
    expect(again.isBlocked(numbers(1)[0]!)).toBe(false);
    expect(again.lastSeq).toBe(4);
    expect((await again.add(numbers(1, 5_105_550_000))).seq).toBe(5);
    await again.close();
  });

  it('recovers from the log alone when no snapshot was taken (killed without close)', async () => {
    const dnc = await open();
    await dnc.add(numbers(10));
    await dnc.remove(numbers(3));
    const digest = dnc.digest();
    // Simulate a crash: drop the lock's owner check by reopening in a fresh engine after removing
    // nothing but the lock (the pid is ours and alive, so the lock would otherwise hold).
    fs.rmSync(path.join(dir, 'writer.lock'));
    const recovered = await open();
    expect(recovered.digest()).toBe(digest);
    expect(fs.readdirSync(dir).some((name) => name.endsWith('.idncsnap'))).toBe(false);
    await recovered.close();
    await dnc.close();
  });

  it('counts the log replayed at startup toward snapshotLogBytes', async () => {
    const dnc = await open({ snapshotLogBytes: 1_000_000_000 });
    for (let round = 0; round < 20; round++) await dnc.add(numbers(5, (201 + round) * 10_000_000 + 5_550_000));
    const digest = dnc.digest();
    fs.rmSync(path.join(dir, 'writer.lock'));
    const hasSnapshot = (): boolean => fs.readdirSync(dir).some((name) => name.endsWith('.idncsnap'));
    expect(hasSnapshot()).toBe(false);
    const recovered = await open({ snapshotLogBytes: 256 });
    await vi.waitFor(() => expect(hasSnapshot()).toBe(true), { timeout: 15_000 });
    expect(recovered.digest()).toBe(digest);
    await recovered.close();
    await dnc.close();
  }, 30_000);

  it('shares one fdatasync among concurrent writes (group commit)', async () => {
    const fileSystem = new FaultyFileSystem();
    const dnc = await open({ fileSystem });
    const before = fileSystem.fdatasyncCalls;
    const results = await Promise.all(numbers(64).map((phone) => dnc.add(phone)));
    const flushes = fileSystem.fdatasyncCalls - before;
    expect(new Set(results.map((r) => r.seq)).size).toBe(64);
    expect(flushes).toBeGreaterThanOrEqual(1);
    expect(flushes).toBeLessThanOrEqual(4);
    expect(dnc.count()).toBe(64);
    await dnc.close();
  });

  it('writers that each await their last add share one fdatasync per round (full batches)', async () => {
    const fileSystem = new FaultyFileSystem();
    const dnc = await open({ fileSystem });
    const writers = 16;
    const rounds = 10;
    const phones = numbers(writers * rounds);
    const before = fileSystem.fdatasyncCalls;
    await Promise.all(
      Array.from({ length: writers }, async (_, writer) => {
        for (let round = 0; round < rounds; round++) await dnc.add(phones[round * writers + writer]!);
      }),
    );
    expect(fileSystem.fdatasyncCalls - before).toBe(rounds);
    expect(dnc.count()).toBe(writers * rounds);
    await dnc.close();
  });

  it('adds arriving during an fdatasync go together in the next one, right after it', async () => {
    const fileSystem = new FaultyFileSystem();
    const dnc = await open({ fileSystem });
    const phones = numbers(41);
    let release!: () => void;
    fileSystem.fdatasyncGate = new Promise<void>((resolve) => (release = resolve));
    const before = fileSystem.fdatasyncCalls;
    const first = dnc.add(phones[0]!);
    await fileSystem.fdatasyncStarted(before + 1);
    const queued = phones.slice(1).map((phone) => dnc.add(phone));
    fileSystem.fdatasyncGate = null;
    release();
    const results = await Promise.all([first, ...queued]);
    expect(fileSystem.fdatasyncCalls - before).toBe(2);
    expect(fileSystem.fdatasyncsInFlightMax).toBe(1);
    expect(results.map((result) => result.seq)).toEqual(results.map((_, i) => results[0]!.seq + i));
    expect(dnc.count()).toBe(41);
    await dnc.close();
  });

  it('makes a change visible only after its fdatasync completed', async () => {
    const fileSystem = new FaultyFileSystem();
    const dnc = await open({ fileSystem });
    let release!: () => void;
    fileSystem.fdatasyncGate = new Promise<void>((resolve) => (release = resolve));
    const phone = numbers(1)[0]!;
    let acknowledged = false;
    const before = fileSystem.fdatasyncCalls;
    const pending = dnc.add(phone).then((result) => {
      acknowledged = true;
      return result;
    });
    await fileSystem.fdatasyncStarted(before + 1);
    expect(acknowledged).toBe(false);
    expect(dnc.isBlocked(phone)).toBe(false);
    release();
    fileSystem.fdatasyncGate = null;
    expect((await pending).changed).toBe(1);
    expect(dnc.isBlocked(phone)).toBe(true);
    await dnc.close();
  });

  it('takes snapshots while writes go on; the reloaded state has the same digest', async () => {
    const dnc = await open({ snapshotLogBytes: 2048, segmentBytesMax: 4096 });
    const writes: Promise<unknown>[] = [];
    for (let round = 0; round < 40; round++) {
      writes.push(dnc.add(numbers(20, (201 + round) * 10_000_000 + 5_550_000)));
      if (round % 5 === 0) writes.push(dnc.snapshot());
      if (round % 7 === 3) writes.push(dnc.remove(numbers(5, (200 + round) * 10_000_000 + 5_550_000)));
    }
    await Promise.all(writes);
    const digest = dnc.digest();
    const count = dnc.count();
    const names = fs.readdirSync(dir);
    expect(names.filter((name) => name.endsWith('.idncsnap')).length).toBeLessThanOrEqual(2);
    fs.rmSync(path.join(dir, 'writer.lock'));
    const reloaded = await open();
    expect(reloaded.digest()).toBe(digest);
    expect(reloaded.count()).toBe(count);
    await reloaded.close();
    await dnc.close();
  });

  it('removes covered log segments only after a later snapshot, keeping the previous snapshot', async () => {
    const dnc = await open({ segmentBytesMax: 1024 });
    for (let round = 0; round < 6; round++) {
      await dnc.add(numbers(50, (201 + round) * 10_000_000 + 5_550_000));
      await dnc.snapshot();
    }
    const names = fs.readdirSync(dir);
    const snapshots = names.filter((name) => name.endsWith('.idncsnap')).sort();
    expect(snapshots).toHaveLength(2);
    const olderSeq = Number(/(\d{16})/.exec(snapshots[0]!)![1]);
    const segments = names.filter((name) => name.endsWith('.idnclog')).map((name) => Number(/(\d{16})/.exec(name)![1]));
    // Every record after the older snapshot is still in the log, so that snapshot can be used.
    expect(Math.min(...segments)).toBeLessThanOrEqual(olderSeq + 1);
    expect(segments.length).toBeLessThan(6);
    const digest = dnc.digest();
    await dnc.close();
    fs.rmSync(path.join(dir, snapshots[1]!));
    const fallback = await open();
    expect(fallback.digest()).toBe(digest);
    await fallback.close();
  });

  it('splits a change larger than one record into several records of one commit', async () => {
    const dnc = await open();
    const phones = Array.from({ length: 1_100_000 }, (_, i) => String(2_002_000_000 + i * 7));
    const result = await dnc.add(phones);
    expect(result.changed).toBe(1_100_000);
    expect(result.seq).toBe(2);
    await dnc.close();
    const again = await open();
    expect(again.count()).toBe(1_100_000);
    await again.close();
  }, 30_000);

  it('refuses a second writer at once, naming the holder', async () => {
    const dnc = await open();
    const second = open();
    await expect(second).rejects.toBeInstanceOf(IdncError);
    await expect(second).rejects.toMatchObject({ code: 'DATA_DIR_LOCKED' });
    await expect(second).rejects.toThrow(new RegExp(`pid ${process.pid} on host`));
    await dnc.close();
    const after = await open();
    await after.close();
  });

  it('starts whatever a dead writer left in the lock file: empty, another host, its own pid', async () => {
    const leftovers = [
      '',
      JSON.stringify({ pid: 1, host: 'another-host', startedAt: new Date().toISOString() }),
      JSON.stringify({ pid: process.pid, host: (await import('node:os')).hostname(), startedAt: new Date().toISOString() }),
    ];
    for (const leftover of leftovers) {
      fs.writeFileSync(path.join(dir, 'writer.lock'), leftover);
      const dnc = await open();
      await dnc.add(numbers(1));
      await dnc.close();
    }
  });

  it('lets exactly one of two simultaneous openers write', async () => {
    const outcomes = await Promise.allSettled([open(), open()]);
    const opened = outcomes.filter((outcome) => outcome.status === 'fulfilled');
    const refused = outcomes.filter((outcome) => outcome.status === 'rejected');
    expect(opened).toHaveLength(1);
    expect(refused).toHaveLength(1);
    expect((refused[0] as PromiseRejectedResult).reason).toMatchObject({ code: 'DATA_DIR_LOCKED' });
    await (opened[0] as PromiseFulfilledResult<Awaited<ReturnType<typeof open>>>).value.close();
  });

  it('keeps the lock file after close, owner-only', async () => {
    const dnc = await open();
    await dnc.close();
    expect(fs.statSync(path.join(dir, 'writer.lock')).mode & 0o777).toBe(0o600);
  });

  it('rejects an invalid fsync mode and refuses writes on a read-only open', async () => {
    // A JavaScript caller's mistake: the types refuse it.
    await expect(open({ fsync: 'sometimes' as never })).rejects.toMatchObject({ code: 'INVALID_PARAMETER' });
    const writer = await open();
    await writer.add(numbers(2));
    const reader = await openDnc({ dataDir: dir, readOnly: true, logger: recordingLogger() });
    expect(reader.count()).toBe(2);
    await expect(reader.add(numbers(1, 3_125_550_000))).rejects.toMatchObject({ code: 'READ_ONLY' });
    await reader.close();
    await writer.close();
  });

  it('never writes a phone number into the log messages', async () => {
    const logger = recordingLogger();
    const dnc = await open({ logger, snapshotLogBytes: 100 });
    await dnc.add(numbers(5));
    await dnc.snapshot();
    await dnc.close();
    expect(logger.lines.length).toBeGreaterThan(0);
    expect(logger.text()).not.toMatch(/212555\d{4}/);
  });
});

describe.each(['interval', 'none'] as const)('fsync %s', (fsync) => {
  it('acknowledges after the write and keeps the changes across a clean close', async () => {
    const dnc = await open({ fsync });
    await Promise.all(numbers(20).map((phone) => dnc.add(phone)));
    await dnc.close();
    const again = await open();
    expect(again.count()).toBe(20);
    await again.close();
  });
});

describe('creating the data directory', () => {
  it('flushes the parent of every directory it creates', async () => {
    const parent = await makeTempDir();
    const flushed: string[] = [];
    const fileSystem = new FaultyFileSystem();
    fileSystem.fsyncDirectory = async (directory: string) => {
      flushed.push(directory);
      await nodeFileSystem.fsyncDirectory(directory);
    };
    const dataDir = path.join(parent, 'a', 'b', 'data');
    const dnc = await DurableDnc.open({ dataDir, fileSystem });
    await dnc.close();
    for (const directory of [parent, path.join(parent, 'a'), path.join(parent, 'a', 'b')]) expect(flushed).toContain(directory);
    await removeDir(parent);
  });
});

describe('leftover temporary files', () => {
  it('removes a snapshot temporary file at startup, and no other *.tmp file', async () => {
    const parent = await makeTempDir();
    const snapshotTemp = path.join(parent, 'snapshot-0000000000000007.idncsnap.tmp');
    const keysTemp = path.join(parent, 'keys.json.1234.abcd.tmp');
    fs.writeFileSync(snapshotTemp, 'partial');
    fs.writeFileSync(keysTemp, '{}');
    const dnc = await DurableDnc.open({ dataDir: parent });
    await dnc.close();
    expect(fs.existsSync(snapshotTemp)).toBe(false);
    expect(fs.existsSync(keysTemp)).toBe(true);
    await removeDir(parent);
  });
});

describe('a change that changes nothing', () => {
  it('is still logged: a repeated request is evidence that the consumer asked again', async () => {
    const dataDir = await makeTempDir();
    const dnc = await DurableDnc.open({ dataDir });
    const first = await dnc.add(numbers(2));
    const again = await dnc.add(numbers(2));
    expect(again).toMatchObject({ changed: 0, seq: first.seq + 1 });
    const removedAbsent = await dnc.remove(numbers(1, 3_125_550_000));
    expect(removedAbsent).toMatchObject({ changed: 0, seq: first.seq + 2 });
    await dnc.close();
    await removeDir(dataDir);
  });
});
