// A key store with an overlay (a follower server laying a replicated writer's keys over its own
// keys.json): an overlay record replaces the file's record of the same id (a revocation on the
// writer wins), the file's other keys keep working, and reload() picks up a changed overlay.

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { createKey } from '../../src/keys/key-admin.js';
import type { KeyRecord } from '../../src/keys/key-records.js';
import { openKeyStore } from '../../src/keys/key-store.js';

let dir: string;
let writerDir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'idnc-keys-overlay-'));
  writerDir = await mkdtemp(join(tmpdir(), 'idnc-keys-writer-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
  await rm(writerDir, { recursive: true, force: true });
});

const silent = { info: () => undefined, warn: () => undefined, error: () => undefined };

it('lays the overlay over the file: same id replaced, the file\'s own keys kept, reload picks up changes', async () => {
  const local = await createKey(dir, { org: 'acme', scopes: ['read'] });
  const shared = await createKey(writerDir, { org: 'acme', scopes: ['read'] });
  // The follower's file holds a copy of the writer's key, still active there.
  const copied = await createKey(dir, { org: 'acme', scopes: ['read'] });
  let overlay: KeyRecord[] = [shared.record, { ...copied.record, revokedAt: '2026-01-01T00:00:00.000Z' }];
  const watched = await openKeyStore(dir, silent, () => overlay);
  try {
    expect(watched.store.authenticate(local.key)).toBeDefined();
    expect(watched.store.authenticate(shared.key)).toBeDefined();
    expect(watched.store.authenticate(copied.key)).toBeUndefined();
    overlay = [{ ...shared.record, revokedAt: '2026-01-02T00:00:00.000Z' }];
    await watched.reload();
    expect(watched.store.authenticate(shared.key)).toBeUndefined();
    expect(watched.store.authenticate(copied.key)).toBeDefined();
    expect(watched.store.authenticate(local.key)).toBeDefined();
  } finally {
    watched.close();
  }
});
