// The simulated disk's promises, which every verdict of the fault simulator rests on: a power loss
// keeps every synced byte and synced directory entry and nothing a real disk would not have kept;
// a crash freezes its process and frees its lock; faults fail the call they name; a failed flush
// leaves pages that even a later flush may not carry; a bit flip changes one synced bit.

import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeMemoryTempDir, removeDir } from '../../persist/helpers.js';
import { Dice } from '../random.js';
import { PAGE_BYTES, SimulatedDisk } from './simulated-disk.js';

let dir: string;
beforeEach(async () => {
  dir = path.resolve(await makeMemoryTempDir());
});
afterEach(async () => {
  await removeDir(dir);
});

const macrotask = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function clear(): void {
  for (const name of fs.readdirSync(dir)) fs.rmSync(path.join(dir, name), { force: true, recursive: true });
}

/** Writes `bytes` to a new file `name` and flushes it and the directory. */
async function syncedFile(disk: SimulatedDisk, name: string, bytes: Buffer): Promise<number> {
  const process = disk.newProcess('writer');
  const fd = await process.open(path.join(dir, name), 'wx');
  await process.writev(fd, [bytes], 0);
  await process.fdatasync(fd);
  await process.fsyncDirectory(dir);
  return fd;
}

describe('a power loss', () => {
  it('keeps every synced byte and synced entry, and of unsynced bytes only what the page cache held', async () => {
    const synced = Buffer.alloc(3 * PAGE_BYTES + 100, 7);
    const unsynced = Buffer.alloc(2 * PAGE_BYTES, 9);
    const lengths = new Set<number>();
    for (let seed = 1; seed <= 30; seed++) {
      clear();
      const disk = new SimulatedDisk(dir, new Dice(seed));
      const fd = await syncedFile(disk, 'a', synced);
      const process = disk.newProcess('appender');
      const appendFd = await process.open(path.join(dir, 'a'), 'r+');
      await process.writev(appendFd, [unsynced], synced.length);
      expect(fd).not.toBe(appendFd);
      disk.powerLoss();
      const after = fs.readFileSync(path.join(dir, 'a'));
      expect(after.subarray(0, synced.length).equals(synced)).toBe(true);
      expect(after.length).toBeLessThanOrEqual(synced.length + unsynced.length);
      expect(after.subarray(synced.length).every((byte) => byte === 0 || byte === 9)).toBe(true);
      lengths.add(after.length);
    }
    expect(lengths.size).toBeGreaterThan(1);
  });

  it('drops or keeps a create that no directory flush covered, but never its synced bytes half', async () => {
    const outcomes = new Set<string>();
    for (let seed = 1; seed <= 30; seed++) {
      clear();
      const disk = new SimulatedDisk(dir, new Dice(seed));
      const process = disk.newProcess('writer');
      const fd = await process.open(path.join(dir, 'b'), 'wx');
      await process.writev(fd, [Buffer.from('synced')], 0);
      await process.fdatasync(fd);
      disk.powerLoss();
      const exists = fs.existsSync(path.join(dir, 'b'));
      if (exists) expect(fs.readFileSync(path.join(dir, 'b'), 'latin1')).toBe('synced');
      outcomes.add(exists ? 'kept' : 'dropped');
    }
    expect([...outcomes].sort()).toEqual(['dropped', 'kept']);
  });

  it('may undo a rename and an unlink that no directory flush covered, in order', async () => {
    const outcomes = new Set<string>();
    for (let seed = 1; seed <= 40; seed++) {
      clear();
      const disk = new SimulatedDisk(dir, new Dice(seed));
      await syncedFile(disk, 'old', Buffer.from('x'));
      const process = disk.newProcess('renamer');
      await process.rename(path.join(dir, 'old'), path.join(dir, 'new'));
      await process.unlink(path.join(dir, 'new'));
      disk.powerLoss();
      const names = fs.readdirSync(dir).sort().join(',');
      expect(['old', 'new', '']).toContain(names);
      outcomes.add(names);
    }
    expect(outcomes.size).toBe(3);
  });

  it('may revert pages whose flush failed even after a later flush succeeded', async () => {
    const outcomes = new Set<string>();
    for (let seed = 1; seed <= 30; seed++) {
      clear();
      const disk = new SimulatedDisk(dir, new Dice(seed));
      await syncedFile(disk, 'c', Buffer.alloc(2 * PAGE_BYTES, 1));
      const process = disk.newProcess('writer2');
      const fd2 = await process.open(path.join(dir, 'c'), 'r+');
      await process.writev(fd2, [Buffer.alloc(PAGE_BYTES, 2)], 0);
      disk.faults.push({ kind: 'fdatasync', countdown: 1, code: 'EIO' });
      await expect(process.fdatasync(fd2)).rejects.toMatchObject({ code: 'EIO' });
      await process.writev(fd2, [Buffer.alloc(PAGE_BYTES, 3)], PAGE_BYTES);
      await process.fdatasync(fd2);
      disk.powerLoss();
      const after = fs.readFileSync(path.join(dir, 'c'));
      expect(after[PAGE_BYTES]).toBe(3);
      outcomes.add(String(after[0]));
    }
    expect([...outcomes].sort()).toEqual(['1', '2']);
  });
});

describe('a crash at the Nth call', () => {
  it('never returns from that call or any later one of the process, and frees its lock', async () => {
    const disk = new SimulatedDisk(dir, new Dice(1));
    const process = disk.newProcess('victim');
    const lockPath = path.join(dir, 'writer.lock');
    expect(await process.tryLockExclusive(lockPath)).not.toBeNull();
    expect(await disk.newProcess('rival').tryLockExclusive(lockPath)).toBeNull();
    const fd = await process.open(path.join(dir, 'd'), 'wx');
    disk.crash = { countdown: 1, kind: 'process' };
    let settled = false;
    void process.writev(fd, [Buffer.from('lost')], 0).finally(() => (settled = true));
    void process.fdatasync(fd).finally(() => (settled = true));
    await process.died;
    for (let i = 0; i < 10; i++) await macrotask();
    expect(settled).toBe(false);
    expect(process.dead).toBe(true);
    expect(disk.lastCrash).toBe('process');
    expect(await disk.newProcess('successor').tryLockExclusive(lockPath)).not.toBeNull();
  });
});

describe('a fault', () => {
  it('fails the Nth call of its kind with its code, a write leaving at most a prefix behind', async () => {
    const disk = new SimulatedDisk(dir, new Dice(3));
    const process = disk.newProcess('writer');
    const fd = await process.open(path.join(dir, 'e'), 'wx');
    disk.faults.push({ kind: 'writev', countdown: 2, code: 'ENOSPC' });
    await process.writev(fd, [Buffer.from('first')], 0);
    const bytes = Buffer.from('second write of some length');
    await expect(process.writev(fd, [bytes], 5)).rejects.toMatchObject({ code: 'ENOSPC' });
    const after = fs.readFileSync(path.join(dir, 'e'));
    expect(after.subarray(0, 5).toString()).toBe('first');
    expect(bytes.subarray(0, after.length - 5).equals(after.subarray(5))).toBe(true);
    expect(after.length).toBeLessThan(5 + bytes.length);
    expect(disk.faultsFired).toBe(1);
  });
});

describe('a bit flip', () => {
  it('changes one bit of synced bytes, on the medium and in the page cache', async () => {
    const disk = new SimulatedDisk(dir, new Dice(5));
    const name = `log-${'1'.padStart(16, '0')}.idnclog`;
    const original = Buffer.alloc(500, 0x55);
    await syncedFile(disk, name, original);
    const flip = disk.flipSyncedBit();
    expect(flip).not.toBeNull();
    const cached = fs.readFileSync(path.join(dir, name));
    expect(cached[flip!.offset]).toBe(0x55 ^ (1 << flip!.bit));
    expect(disk.holds(flip!)).toBe(true);
    disk.powerLoss();
    expect(fs.readFileSync(path.join(dir, name)).equals(cached)).toBe(true);
  });
});
