// A follower's load while the writer keeps restarting: each restart starts a new epoch in the
// durable-seq mark, and a load that sees the epoch change under it loads again. When every attempt
// sees a new epoch the open fails with a typed STORAGE_UNAVAILABLE that says what to wait for.
// Restarts that land inside every load cannot be timed with a real writer, so the mark's reader is
// replaced here by one that reports a new epoch on every read once `restarting` is set.

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FOLLOWER_LOAD_ATTEMPTS } from '../../src/constants.js';
import { DurableDnc, openDnc } from '../../src/index.js';
import { makeTempDir, recordingLogger, removeDir } from '../persist/helpers.js';

const marks = vi.hoisted(() => ({ restarting: false, reads: 0 }));

vi.mock('../../src/persist/durable-mark.js', async (importOriginal) => {
  const original = await importOriginal<typeof import('../../src/persist/durable-mark.js')>();
  return {
    ...original,
    readDurableMark: async (dataDir: string) => {
      const read = await original.readDurableMark(dataDir);
      if (!marks.restarting || read.kind !== 'ok') return read;
      marks.reads++;
      return { kind: 'ok' as const, mark: { ...read.mark, epoch: `restart-${marks.reads}` } };
    },
  };
});

let dir: string;
beforeEach(async () => {
  dir = await makeTempDir('idnc-follower-load-');
  marks.restarting = false;
  marks.reads = 0;
});
afterEach(async () => {
  await removeDir(dir);
});

describe('a follower loading while the writer restarts', () => {
  it('refuses to open with STORAGE_UNAVAILABLE after a new epoch during every load', async () => {
    const writer = await DurableDnc.open({ dataDir: dir, logger: recordingLogger() });
    await writer.add('4155550101');
    await writer.close();
    marks.restarting = true;
    const opening = openDnc({ dataDir: dir, readOnly: true, logger: recordingLogger() });
    await expect(opening).rejects.toMatchObject({
      code: 'STORAGE_UNAVAILABLE',
      message: expect.stringContaining(`restarted during each of ${FOLLOWER_LOAD_ATTEMPTS} loads`),
    });
  });

  it('opens once the writer stays up', async () => {
    const writer = await DurableDnc.open({ dataDir: dir, logger: recordingLogger() });
    await writer.add('4155550101');
    await writer.close();
    const follower = await openDnc({ dataDir: dir, readOnly: true, logger: recordingLogger(), watch: false });
    try {
      expect(follower.isBlocked(4155550101)).toBe(true);
    } finally {
      await follower.close();
    }
  });
});
