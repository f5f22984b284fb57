// openDnc's overloads: each kind of options gives that kind's engine type, so a test or a library
// user needs no cast to reach snapshot() or lagMs, and a misspelt option does not compile. The type
// checks fail the compile (npx tsc -p tsconfig.test.json), not the run: expectTypeOf on a wrong
// type, and @ts-expect-error on a call that would compile.

import { afterEach, beforeEach, describe, expect, expectTypeOf, it } from 'vitest';
import { DncFollower, DurableDnc, openDnc, type Dnc } from '../src/index.js';
import { nodeFileSystem } from '../src/persist/file-system.js';
import { makeTempDir, recordingLogger, removeDir } from './persist/helpers.js';

let dir: string;
beforeEach(async () => {
  dir = await makeTempDir('idnc-open-');
});
afterEach(async () => {
  await removeDir(dir);
});

describe('openDnc', () => {
  it('opens the kind its options name, typed as that kind', async () => {
    const memory = await openDnc();
    const writer = await openDnc({ dataDir: dir, logger: recordingLogger(), fileSystem: nodeFileSystem, segmentBytesMax: 1 << 20 });
    const follower = await openDnc({ dataDir: dir, readOnly: true, logger: recordingLogger(), staleAfterMs: 1000 });
    try {
      expectTypeOf(memory).toEqualTypeOf<Dnc>();
      expectTypeOf(writer).toEqualTypeOf<DurableDnc>();
      expectTypeOf(follower).toEqualTypeOf<DncFollower>();
      expect([memory instanceof DurableDnc, writer instanceof DurableDnc, follower instanceof DncFollower]).toEqual([false, true, true]);
      await writer.snapshot();
      expect(follower.lagMs).toBeGreaterThanOrEqual(0);
    } finally {
      await follower.close();
      await writer.close();
      await memory.close();
    }
  });

  it('refuses, at compile time, options that are misspelt or of another kind', () => {
    // Never called: what is checked here is that these calls do not compile.
    const mistakes = (): unknown[] => [
      // @ts-expect-error fileSytem is not an option
      openDnc({ dataDir: dir, fileSytem: nodeFileSystem }),
      // @ts-expect-error a follower takes no segmentBytesMax
      openDnc({ dataDir: dir, readOnly: true, segmentBytesMax: 1 }),
      // @ts-expect-error a writer takes no staleAfterMs
      openDnc({ dataDir: dir, staleAfterMs: 1000 }),
      // @ts-expect-error an in-memory engine takes no fileSystem
      openDnc({ fileSystem: nodeFileSystem }),
    ];
    expectTypeOf(mistakes).returns.toEqualTypeOf<unknown[]>();
  });
});
