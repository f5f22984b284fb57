// API keys: format and hashing, the key file (0600, atomic, checked on read), create/list/revoke
// rules, and a running store picking up file changes.

import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createKey, ensureFirstKey, listKeys, revokeKey } from '../../src/keys/key-admin.js';
import { generateKey, hashKey, keyIdOf, keyMatchesHash } from '../../src/keys/key-format.js';
import { keysFilePath, withKeysLock } from '../../src/keys/key-file.js';
import { KeyInputError, KeysFileError, parseProjects, parseScopes } from '../../src/keys/key-records.js';
import { KeyStore, openKeyStore } from '../../src/keys/key-store.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'idnc-keys-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const silent = { info: () => undefined, warn: () => undefined, error: () => undefined };

describe('key format', () => {
  it('keys carry their id, 256 random bits, and differ every time', () => {
    const a = generateKey();
    const b = generateKey();
    expect(a.key).toMatch(/^idnc_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/);
    expect(keyIdOf(a.key)).toBe(a.id);
    expect(a.key).not.toBe(b.key);
    expect(a.id).not.toBe(b.id);
    expect(a.hash).toBe(hashKey(a.key));
    expect(a.hash).not.toContain(a.key.slice(18));
  });

  it('only the exact key matches its hash', () => {
    const a = generateKey();
    expect(keyMatchesHash(a.key, a.hash)).toBe(true);
    expect(keyMatchesHash(`${a.key.slice(0, -1)}x`, a.hash)).toBe(false);
    expect(keyMatchesHash(generateKey().key, a.hash)).toBe(false);
  });

  it('malformed keys have no id', () => {
    for (const text of ['', 'idnc_', 'idnc_abc_def', `${generateKey().key}=`, generateKey().key.replace('idnc_', 'IDNC_')]) {
      expect(keyIdOf(text)).toBeUndefined();
    }
  });
});

describe('scopes and projects', () => {
  it('parses and refuses clearly', () => {
    expect(parseScopes('read,write')).toEqual(['read', 'write']);
    expect(parseScopes(' admin ,admin')).toEqual(['admin']);
    expect(() => parseScopes('read,delete')).toThrow(/scope "delete"/);
    expect(() => parseScopes('')).toThrow(KeyInputError);
    expect(parseProjects('a,b.c,a')).toEqual(['a', 'b.c']);
    expect(() => parseProjects('a,,b')).toThrow(/project ""/);
    expect(() => parseProjects('bad project')).toThrow(/bad project/);
  });
});

describe('Object.prototype names given to the key commands and the store', () => {
  const names = [...new Set(Object.getOwnPropertyNames(Object.prototype).flatMap((name) => [name, name.toLowerCase(), name.toUpperCase()]))];

  it('are no scope, are projects, organisations and names like any other, and no key or key id', async () => {
    const admin = await createKey(dir, { org: 'acme', scopes: ['admin'], name: 'real' });
    for (const name of names) {
      expect(() => parseScopes(name)).toThrow(KeyInputError);
      expect(parseProjects(name)).toEqual([name]);
      await expect(revokeKey(dir, name)).rejects.toThrow(/no key with id or name/);
    }
    const created = await createKey(dir, { org: '__proto__', scopes: ['read'], projects: ['constructor', 'toString'], name: 'hasOwnProperty' });
    const store = new KeyStore(await listKeys(dir));
    for (const name of names) expect(store.authenticate(name)).toBeUndefined();
    expect(store.authenticate(`idnc_${'0'.repeat(12)}_constructor`)).toBeUndefined();
    expect(store.authenticate(created.key)).toMatchObject({ org: '__proto__', projects: ['constructor', 'toString'] });
    expect(store.authenticate(admin.key)?.org).toBe('acme');
    expect((await revokeKey(dir, 'hasOwnProperty')).id).toBe(created.record.id);
  });
});

describe('the key file', () => {
  it('creates keys.json with mode 0600 holding hashes, never keys', async () => {
    const created = await createKey(dir, { org: 'acme', scopes: ['read'], projects: ['p1'], name: 'dialer' });
    const path = keysFilePath(dir);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    const text = await readFile(path, 'utf8');
    expect(text).not.toContain(created.key);
    expect(text).not.toContain(created.key.slice(18));
    const file = JSON.parse(text) as { keys: Record<string, unknown>[] };
    expect(file.keys[0]).toMatchObject({
      id: created.record.id,
      name: 'dialer',
      org: 'acme',
      scopes: ['read'],
      projects: ['p1'],
      revokedAt: null,
      hash: hashKey(created.key),
    });
    expect(typeof file.keys[0]!.createdAt).toBe('string');
    expect((await readdir(dir)).sort()).toEqual(['keys.json']);
  });

  it('validates organisation, name and scopes, and keeps names unique among active keys', async () => {
    await expect(createKey(dir, { org: 'bad org', scopes: ['read'] })).rejects.toThrow(/organisation "bad org"/);
    await expect(createKey(dir, { org: 'acme', scopes: [] })).rejects.toThrow(KeyInputError);
    await expect(createKey(dir, { org: 'acme', scopes: ['read'], name: 'a b' })).rejects.toThrow(/name/);
    await createKey(dir, { org: 'acme', scopes: ['read'], name: 'dialer' });
    await expect(createKey(dir, { org: 'acme', scopes: ['read'], name: 'dialer' })).rejects.toThrow(/already exists/);
    expect(await listKeys(dir)).toHaveLength(1);
  });

  it('revokes by id or by name; unknown or twice is an error', async () => {
    const a = await createKey(dir, { org: 'acme', scopes: ['read'], name: 'first' });
    const b = await createKey(dir, { org: 'acme', scopes: ['read'] });
    expect((await revokeKey(dir, 'first')).id).toBe(a.record.id);
    expect((await revokeKey(dir, b.record.id)).revokedAt).not.toBeNull();
    await expect(revokeKey(dir, b.record.id)).rejects.toThrow(/already revoked/);
    await expect(revokeKey(dir, 'nobody')).rejects.toThrow(/no key/);
    const listed = await listKeys(dir);
    expect(listed.every((r) => r.revokedAt !== null)).toBe(true);
    const reused = await createKey(dir, { org: 'acme', scopes: ['read'], name: 'first' });
    expect(reused.record.name).toBe('first');
  });

  it('refuses admin or operator on a key limited to projects', async () => {
    for (const scopes of [['admin'], ['read', 'operator']] as const) {
      await expect(createKey(dir, { org: 'acme', scopes, projects: ['p1'] })).rejects.toThrow(/limited to projects cannot have the admin or operator scope/);
    }
    expect(parseScopes('operator')).toEqual(['operator']);
    expect(await listKeys(dir)).toHaveLength(0);
  });

  it('creates the first admin key only when there is no file', async () => {
    const first = await ensureFirstKey(dir);
    expect(first?.record).toMatchObject({ org: 'default', scopes: ['admin', 'operator'] });
    expect(await ensureFirstKey(dir)).toBeUndefined();
    expect(await listKeys(dir)).toHaveLength(1);
  });

  it('refuses a damaged file with a message naming it', async () => {
    await writeFile(keysFilePath(dir), '{"format":1,"keys":[{"id":"zz"}]}');
    await expect(listKeys(dir)).rejects.toThrow(KeysFileError);
    await expect(createKey(dir, { org: 'acme', scopes: ['read'] })).rejects.toThrow(/keys\.json: key #1: invalid id/);
    await writeFile(keysFilePath(dir), 'not json');
    await expect(listKeys(dir)).rejects.toThrow(/not valid JSON/);
  });

  it('keeps unknown record fields (room for later ones)', async () => {
    const created = await createKey(dir, { org: 'acme', scopes: ['read'] });
    const path = keysFilePath(dir);
    const file = JSON.parse(await readFile(path, 'utf8')) as { keys: Record<string, unknown>[] };
    file.keys[0]!.quota = { perDay: 10 };
    await writeFile(path, JSON.stringify(file));
    await revokeKey(dir, created.record.id);
    const after = JSON.parse(await readFile(path, 'utf8')) as { keys: Record<string, unknown>[] };
    expect(after.keys[0]!.quota).toEqual({ perDay: 10 });
  });

  it('rateLimit, now a known field, must be a whole number of requests per second (0 = unlimited)', async () => {
    await createKey(dir, { org: 'acme', scopes: ['read'] });
    const path = keysFilePath(dir);
    const file = JSON.parse(await readFile(path, 'utf8')) as { keys: Record<string, unknown>[] };
    for (const bad of [{ perSecond: 10 }, -1, 1.5, '10']) {
      file.keys[0]!.rateLimit = bad;
      await writeFile(path, JSON.stringify(file));
      await expect(listKeys(dir)).rejects.toThrow(/rateLimit must be a whole number/);
    }
    file.keys[0]!.rateLimit = 0;
    await writeFile(path, JSON.stringify(file));
    expect((await listKeys(dir))[0]!.rateLimit).toBe(0);
  });

  it('serialises concurrent commands: no creation is lost', async () => {
    await Promise.all(Array.from({ length: 8 }, (_, i) => createKey(dir, { org: 'acme', scopes: ['read'], name: `k${i}` })));
    expect((await listKeys(dir)).map((r) => r.name).sort()).toEqual(['k0', 'k1', 'k2', 'k3', 'k4', 'k5', 'k6', 'k7']);
  });

  it('a lock held by a live command makes others wait', async () => {
    const order: string[] = [];
    const path = keysFilePath(dir);
    let started!: () => void;
    let release!: () => void;
    const aStarted = new Promise<void>((resolve) => (started = resolve));
    const aReleased = new Promise<void>((resolve) => (release = resolve));
    const a = withKeysLock(path, async () => {
      order.push('a-start');
      started();
      await aReleased;
      order.push('a-end');
    });
    await aStarted;
    let busy!: () => void;
    const bWaits = new Promise<void>((resolve) => (busy = resolve));
    const b = withKeysLock(path, async () => void order.push('b'), busy);
    await bWaits;
    expect(order).toEqual(['a-start']);
    release();
    await Promise.all([a, b]);
    expect(order).toEqual(['a-start', 'a-end', 'b']);
  });
});

describe('the store', () => {
  it('authenticates active keys only', async () => {
    const a = await createKey(dir, { org: 'acme', scopes: ['read'] });
    const store = new KeyStore(await listKeys(dir));
    expect(store.authenticate(a.key)?.org).toBe('acme');
    expect(store.authenticate(generateKey().key)).toBeUndefined();
    expect(store.authenticate('garbage')).toBeUndefined();
    store.replace([{ ...a.record, revokedAt: new Date().toISOString() }]);
    expect(store.authenticate(a.key)).toBeUndefined();
  });

  it('a running store sees keys created and revoked in the file', async () => {
    const a = await createKey(dir, { org: 'acme', scopes: ['read'] });
    const watched = await openKeyStore(dir, silent);
    try {
      expect(watched.store.authenticate(a.key)).toBeDefined();
      const b = await createKey(dir, { org: 'acme', scopes: ['write'] });
      await vi.waitFor(() => expect(watched.store.authenticate(b.key)).toBeDefined(), { timeout: 5000, interval: 20 });
      await revokeKey(dir, a.record.id);
      await vi.waitFor(() => expect(watched.store.authenticate(a.key)).toBeUndefined(), { timeout: 5000, interval: 20 });
    } finally {
      watched.close();
    }
  });

  it('keeps the previous keys when the file is damaged, and none when it is deleted', async () => {
    const a = await createKey(dir, { org: 'acme', scopes: ['read'] });
    const errors: string[] = [];
    const watched = await openKeyStore(dir, { ...silent, error: (m) => void errors.push(m) });
    try {
      await writeFile(keysFilePath(dir), '{"broken": tr');
      await watched.reload();
      expect(errors.length).toBe(1);
      expect(watched.store.authenticate(a.key)).toBeDefined();
      await rm(keysFilePath(dir));
      await watched.reload();
      expect(watched.store.authenticate(a.key)).toBeUndefined();
    } finally {
      watched.close();
    }
  });
});
