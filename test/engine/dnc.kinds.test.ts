// The three kinds of engine (in memory, the durable writer, a read-only follower) are one class
// composed of different parts (src/engine/dnc.ts, src/open.ts). What that promises: one hidden
// shape in V8 for all three, so a process that holds more than one kind keeps isBlocked
// monomorphic; and each kind's own members where the public types say they are.

import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AssertionError } from '../../src/assert.js';
import { Dnc, DncFollower, DurableDnc, openDnc } from '../../src/index.js';
import { makeTempDir, recordingLogger, removeDir } from '../persist/helpers.js';

const distIndex = new URL('../../dist/index.js', import.meta.url).href;

// Runs in a child node with --allow-natives-syntax on the built library (global-setup builds it).
const SHAPES = `
import { Dnc, openDnc } from ${JSON.stringify(distIndex)};
const dataDir = process.argv[1];
const memory = new Dnc();
const durable = await openDnc({ dataDir });
await durable.add('4155550101');
const follower = await openDnc({ dataDir, readOnly: true });
for (const dnc of [memory, durable, follower]) dnc.isBlocked(4155550101);
process.stdout.write(JSON.stringify({ durable: %HaveSameMap(memory, durable), follower: %HaveSameMap(memory, follower), blocked: follower.isBlocked(4155550101) }));
await follower.close();
await durable.close();
`;

let dir: string;
beforeEach(async () => {
  dir = await makeTempDir('idnc-kinds-');
});
afterEach(async () => {
  await removeDir(dir);
});

describe('the kinds of engine', () => {
  it('share one hidden shape: in memory, durable and follower', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ['--allow-natives-syntax', '--input-type=module', '-e', SHAPES, `${dir}/data`], {
      cwd: fileURLToPath(new URL('../..', import.meta.url)),
    });
    expect(JSON.parse(stdout)).toEqual({ durable: true, follower: true, blocked: true });
  });

  it('each has the members of its kind; DurableDnc.open opens only writers', async () => {
    await expect(DurableDnc.open({ dataDir: dir, readOnly: true })).rejects.toMatchObject({ code: 'INVALID_PARAMETER' });
    const writer = await DurableDnc.open({ dataDir: dir, logger: recordingLogger() });
    await writer.add('4155550101');
    await writer.snapshot();
    const follower = await openDnc({ dataDir: dir, readOnly: true, logger: recordingLogger() });
    try {
      expect(writer.dataDir).toBe(follower.dataDir);
      expect(follower.lagMs).toBeGreaterThanOrEqual(0);
      expect(follower.stats().follower?.lagMs).toBeGreaterThanOrEqual(0);
      expect(writer.stats()).toMatchObject({ follower: null, log: { seq: 1, writerState: 'open' } });
      expect((await openDnc()).stats()).toMatchObject({ follower: null, log: null });
      // Through a cast only (the types do not offer them): a kind's member on another kind is a bug.
      expect(() => (writer as unknown as typeof follower).lagMs).toThrow(AssertionError);
      expect(() => (writer as unknown as typeof follower).lagMs).toThrow(/only a follower/);
      expect(() => (writer as unknown as typeof follower).on('stale', () => undefined)).toThrow(AssertionError);
      await expect((follower as unknown as typeof writer).snapshot()).rejects.toThrow(AssertionError);
      await expect((follower as unknown as typeof writer).snapshot()).rejects.toThrow(/only a durable engine/);
      expect(() => (new Dnc() as unknown as typeof writer).dataDir).toThrow(AssertionError);
    } finally {
      await follower.close();
      await writer.close();
    }
  });

  it('are told apart by instanceof, each kind by its own name only', async () => {
    const memory = new Dnc();
    const writer = await openDnc({ dataDir: dir, logger: recordingLogger() });
    const follower = await openDnc({ dataDir: dir, readOnly: true, logger: recordingLogger() });
    try {
      const kinds = [memory, writer, follower].map((dnc) => [dnc instanceof Dnc, dnc instanceof DurableDnc, dnc instanceof DncFollower]);
      expect(kinds).toEqual([
        [true, false, false],
        [true, true, false],
        [true, false, true],
      ]);
      expect([{}, null, 'dnc'].map((value) => (value as object) instanceof DurableDnc || (value as object) instanceof DncFollower)).toEqual([false, false, false]);
    } finally {
      await follower.close();
      await writer.close();
    }
  });
});
