// API keys on every host, over a real 3-node JetStream cluster: a key created, changed or revoked
// on the writer's host (the `keys` commands rewriting its keys.json) takes effect on another host
// within 2 s and lands in that host's keys.json (mode 0600); a revoke is not lost while NATS is
// down, partly or wholly, nor while the other host is down; a host restarted without NATS keeps the
// last keys it saw and says it is stale; a writer with an older keys.json never brings a revoked
// key back; and the bucket holds hashes only, never a secret.

import { mkdir, rm, stat } from 'node:fs/promises';
import { describe, expect, test, vi } from 'vitest';
import { connect } from '@nats-io/transport-node';
import { Kvm } from '@nats-io/kv';
import { buildApp } from '../../src/http/app.js';
import { createKey, revokeKey, setRateLimit } from '../../src/keys/key-admin.js';
import { keysFilePath, readKeysFile, writeKeysFile } from '../../src/keys/key-file.js';
import { openKeyStore, type WatchedKeyStore } from '../../src/keys/key-store.js';
import { openDnc } from '../../src/open.js';
import { KeyReplication, type KeyReplicationRole } from '../../src/replicate/key-replication.js';
import { makeTempDir, recordingLogger, removeDir, type RecordingLogger } from '../persist/helpers.js';
import { natsAvailable } from './nats-cluster.js';
import { natsSuite } from './nats-suite.js';

/** The bound: a key change takes effect on every host within 2 s. */
const TAKES_EFFECT_MS = 2000;
/** NATS nodes restarted: far above a reconnect and a new watch on a loaded machine. */
const RECOVERS_MS = 20_000;
const within = (timeout: number) => ({ timeout, interval: 20 });

interface Host {
  readonly dir: string;
  readonly logger: RecordingLogger;
  readonly keys: WatchedKeyStore;
  readonly replication: KeyReplication;
  stop(): Promise<void>;
}

describe.skipIf(!natsAvailable())('key replication', () => {
  const dirs: string[] = [];
  const hosts: Host[] = [];
  const nats = natsSuite({
    streamPrefix: 'K',
    afterEachTest: async () => {
      for (const host of hosts.splice(0)) await host.stop();
      for (const dir of dirs.splice(0)) await removeDir(dir);
    },
  });

  async function newDir(): Promise<string> {
    const dir = await makeTempDir('idnc-key-replication-');
    dirs.push(dir);
    return dir;
  }

  async function startHost(role: KeyReplicationRole, dir: string): Promise<Host> {
    const logger = recordingLogger();
    const keys = await openKeyStore(dir, logger);
    const replication = KeyReplication.start({ servers: nats.cluster.servers.split(','), stream: nats.stream, role, dataDir: dir, keys, logger, replicas: 3 });
    let stopped = false;
    const host: Host = {
      dir,
      logger,
      keys,
      replication,
      stop: async () => {
        if (stopped) return;
        stopped = true;
        await replication.close();
        keys.close();
      },
    };
    hosts.push(host);
    return host;
  }

  const accepts = (host: Host, key: string) => host.keys.store.authenticate(key) !== undefined;

  /** Every value in the bucket, as text. */
  async function bucketValues(): Promise<Map<string, string>> {
    const nc = await connect({ servers: nats.cluster.servers.split(',') });
    try {
      const kv = await new Kvm(nc).open(`${nats.stream}_KEYS`);
      const values = new Map<string, string>();
      for await (const name of await kv.keys()) {
        const entry = await kv.get(name);
        if (entry !== null && entry.operation === 'PUT') values.set(name, entry.string());
      }
      return values;
    } finally {
      await nc.close();
    }
  }

  test('a key created, changed and revoked on the writer\'s host takes effect on another host within 2 s, and lands in its keys.json (0600)', async () => {
    const writerDir = await newDir();
    const first = await createKey(writerDir, { org: 'default', scopes: ['admin'] });
    await startHost('publish', writerDir);
    const reader = await startHost('follow', await newDir());
    await vi.waitFor(() => expect(accepts(reader, first.key)).toBe(true), within(RECOVERS_MS));

    const created = await createKey(writerDir, { org: 'acme', scopes: ['read'], name: 'dialer' });
    await vi.waitFor(() => expect(reader.keys.store.authenticate(created.key)).toMatchObject({ org: 'acme', scopes: ['read'] }), within(TAKES_EFFECT_MS));
    await setRateLimit(writerDir, 'dialer', 5);
    await vi.waitFor(() => expect(reader.keys.store.authenticate(created.key)?.rateLimit).toBe(5), within(TAKES_EFFECT_MS));
    await revokeKey(writerDir, 'dialer');
    await vi.waitFor(() => expect(accepts(reader, created.key)).toBe(false), within(TAKES_EFFECT_MS));
    expect(accepts(reader, first.key)).toBe(true);

    const path = keysFilePath(reader.dir);
    await vi.waitFor(async () => expect((await readKeysFile(path))?.keys).toEqual((await readKeysFile(keysFilePath(writerDir)))?.keys), within(TAKES_EFFECT_MS));
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(reader.replication.health()).toMatchObject({ source: 'nats', stale: false });
  });

  test('a revoke takes effect on another host even when its keys.json cannot be written', async () => {
    const writerDir = await newDir();
    const readerDir = await newDir();
    const created = await createKey(writerDir, { org: 'default', scopes: ['read'] });
    const kept = await createKey(writerDir, { org: 'default', scopes: ['read'] });
    await startHost('publish', writerDir);
    const reader = await startHost('follow', readerDir);
    await vi.waitFor(() => expect(accepts(reader, created.key)).toBe(true), within(RECOVERS_MS));
    // A directory where keys.json was: every write of the file fails, whoever runs the test.
    await rm(keysFilePath(readerDir));
    await mkdir(keysFilePath(readerDir));
    await revokeKey(writerDir, created.record.id);
    // The key store may drop every key when it sees keys.json gone: the revoked key refused is not
    // enough; the other key works again once the bucket's records are applied in memory.
    await vi.waitFor(() => {
      expect(reader.logger.text('error')).toMatch(/applied from NATS but not written to/);
      expect(accepts(reader, created.key)).toBe(false);
      expect(accepts(reader, kept.key)).toBe(true);
    }, within(TAKES_EFFECT_MS));
  });

  test('a record removed from the writer\'s keys.json by hand is removed everywhere: its key works nowhere', async () => {
    const writerDir = await newDir();
    const kept = await createKey(writerDir, { org: 'default', scopes: ['admin'] });
    const removed = await createKey(writerDir, { org: 'default', scopes: ['read'] });
    await startHost('publish', writerDir);
    const reader = await startHost('follow', await newDir());
    await vi.waitFor(() => expect(accepts(reader, removed.key)).toBe(true), within(RECOVERS_MS));
    const path = keysFilePath(writerDir);
    const file = (await readKeysFile(path))!;
    await writeKeysFile(path, { ...file, keys: file.keys.filter((record) => record.id !== removed.record.id) });
    await vi.waitFor(() => expect(accepts(reader, removed.key)).toBe(false), within(TAKES_EFFECT_MS));
    expect(accepts(reader, kept.key)).toBe(true);
    await vi.waitFor(async () => expect([...(await bucketValues()).keys()].sort()).toEqual([`key.${kept.record.id}`, 'published']), within(TAKES_EFFECT_MS));
  });

  test('the bucket holds the records of keys.json, hashes only: no secret, not even one a hand edit put in the file', async () => {
    const writerDir = await newDir();
    const created = await createKey(writerDir, { org: 'default', scopes: ['admin'] });
    const path = keysFilePath(writerDir);
    const file = (await readKeysFile(path))!;
    await writeKeysFile(path, { ...file, keys: file.keys.map((record) => ({ ...record, note: created.key })) });
    await startHost('publish', writerDir);
    const values = await vi.waitFor(async () => {
      const found = await bucketValues();
      expect(found.has('published')).toBe(true);
      return found;
    }, within(RECOVERS_MS));
    expect([...values.keys()].sort()).toEqual([`key.${created.record.id}`, 'published']);
    // The secret is base64url, which may itself hold '_': it is everything after `idnc_<id>_`.
    const secret = created.key.slice(`idnc_${created.record.id}_`.length);
    expect(secret.length).toBeGreaterThanOrEqual(40);
    for (const value of values.values()) {
      expect(value).not.toContain(secret);
      expect(value).not.toContain(created.key);
    }
    const stored = JSON.parse(values.get(`key.${created.record.id}`)!) as Record<string, unknown>;
    expect(Object.keys(stored).sort()).toEqual(['createdAt', 'hash', 'id', 'name', 'org', 'rateLimit', 'revokedAt', 'scopes']);
    expect(stored.hash).toBe(created.record.hash);
  });

  test('a revoke made while NATS is down is published when it is back; the other host says stale meanwhile', async () => {
    const writerDir = await newDir();
    const created = await createKey(writerDir, { org: 'default', scopes: ['read'] });
    const writer = await startHost('publish', writerDir);
    const reader = await startHost('follow', await newDir());
    await vi.waitFor(() => expect(accepts(reader, created.key)).toBe(true), within(RECOVERS_MS));

    await nats.cluster.killAll();
    await revokeKey(writerDir, created.record.id);
    await vi.waitFor(() => expect(accepts(writer, created.key)).toBe(false), within(TAKES_EFFECT_MS));
    await vi.waitFor(() => expect(reader.replication.health()).toMatchObject({ source: 'nats', stale: true }), within(RECOVERS_MS));
    expect(writer.replication.health().stale).toBe(true);
    await nats.cluster.startAll();
    await vi.waitFor(() => expect(accepts(reader, created.key)).toBe(false), within(RECOVERS_MS));
    await vi.waitFor(() => expect(reader.replication.health().stale).toBe(false), within(RECOVERS_MS));
  }, 60_000);

  test('a revoke made while one NATS node is down reaches the other host within 2 s', async () => {
    const writerDir = await newDir();
    const created = await createKey(writerDir, { org: 'default', scopes: ['read'] });
    const writer = await startHost('publish', writerDir);
    const reader = await startHost('follow', await newDir());
    await vi.waitFor(() => expect(accepts(reader, created.key)).toBe(true), within(RECOVERS_MS));
    await nats.cluster.killNode(0);
    try {
      // Both hosts may have been connected to the node killed: let them find another one first.
      const killedAt = Date.now();
      const currentSince = (host: Host) => Date.parse(host.replication.health().lastUpdateAt ?? '') > killedAt;
      await vi.waitFor(() => expect(currentSince(reader) && currentSince(writer)).toBe(true), within(RECOVERS_MS));
      await revokeKey(writerDir, created.record.id);
      await vi.waitFor(() => expect(accepts(reader, created.key)).toBe(false), within(TAKES_EFFECT_MS));
    } finally {
      await nats.cluster.startNode(0);
    }
  }, 60_000);

  test('a revoke made while the other host is down reaches it when it starts again', async () => {
    const writerDir = await newDir();
    const readerDir = await newDir();
    const created = await createKey(writerDir, { org: 'default', scopes: ['read'] });
    await startHost('publish', writerDir);
    const reader = await startHost('follow', readerDir);
    await vi.waitFor(() => expect(accepts(reader, created.key)).toBe(true), within(RECOVERS_MS));
    await reader.stop();
    await revokeKey(writerDir, created.record.id);
    await vi.waitFor(async () => expect((await bucketValues()).get(`key.${created.record.id}`)).toContain('"revokedAt":"'), within(RECOVERS_MS));
    const again = await startHost('follow', readerDir);
    expect(accepts(again, created.key)).toBe(true); // its keys.json, until NATS is heard
    await vi.waitFor(() => expect(accepts(again, created.key)).toBe(false), within(RECOVERS_MS));
  });

  test('a host restarted while NATS is down keeps the last keys it saw and reports them stale in /healthz', async () => {
    const writerDir = await newDir();
    const readerDir = await newDir();
    const kept = await createKey(writerDir, { org: 'default', scopes: ['read'] });
    const revoked = await createKey(writerDir, { org: 'default', scopes: ['read'] });
    await startHost('publish', writerDir);
    const reader = await startHost('follow', readerDir);
    await revokeKey(writerDir, revoked.record.id);
    await vi.waitFor(() => expect(accepts(reader, kept.key) && !accepts(reader, revoked.key)).toBe(true), within(RECOVERS_MS));
    await reader.stop();
    await nats.cluster.killAll();

    const again = await startHost('follow', readerDir);
    const dnc = await openDnc();
    const app = buildApp({ dnc, keys: again.keys.store, keysHealth: () => again.replication.health() });
    try {
      expect(accepts(again, kept.key)).toBe(true);
      expect(accepts(again, revoked.key)).toBe(false);
      const health = await app.inject({ method: 'GET', url: '/healthz' });
      expect(health.json()).toEqual({ status: 'ok', keys: { source: 'file', stale: true, lastUpdateAt: null } });
      await nats.cluster.startAll();
      await vi.waitFor(async () => {
        const current = (await app.inject({ method: 'GET', url: '/healthz' })).json();
        expect(current).toMatchObject({ status: 'ok', keys: { source: 'nats', stale: false } });
        expect(Date.parse(current.keys.lastUpdateAt)).toBeGreaterThan(0);
      }, within(RECOVERS_MS));
    } finally {
      await app.close();
      await dnc.close();
    }
  }, 60_000);

  test('a host that starts with a copy of keys.json keeps using it while the writer has published nothing', async () => {
    const writerDir = await newDir();
    const readerDir = await newDir();
    const created = await createKey(writerDir, { org: 'default', scopes: ['read'] });
    await writeKeysFile(keysFilePath(readerDir), (await readKeysFile(keysFilePath(writerDir)))!);
    const probe = await startHost('publish', await newDir()); // creates the bucket, publishes nothing: it has no keys.json
    const reader = await startHost('follow', readerDir);
    await vi.waitFor(() => expect(probe.replication.health().stale).toBe(true), within(RECOVERS_MS));
    expect(accepts(reader, created.key)).toBe(true);
    expect(reader.replication.health()).toMatchObject({ source: 'file', stale: true });
    await startHost('publish', writerDir);
    await vi.waitFor(() => expect(reader.replication.health()).toMatchObject({ source: 'nats', stale: false }), within(RECOVERS_MS));
    expect(accepts(reader, created.key)).toBe(true);
  });

  test('a writer whose keys.json is older than the bucket never brings a revoked key back: it revokes it in its own file', async () => {
    const oldDir = await newDir();
    const newerDir = await newDir();
    const created = await createKey(oldDir, { org: 'default', scopes: ['read'] });
    const copy = (await readKeysFile(keysFilePath(oldDir)))!;
    const first = await startHost('publish', oldDir);
    await revokeKey(oldDir, created.record.id);
    await vi.waitFor(async () => expect((await bucketValues()).get(`key.${created.record.id}`)).toContain('"revokedAt":"'), within(RECOVERS_MS));
    await first.stop();

    await writeKeysFile(keysFilePath(newerDir), copy); // a standby's copy from before the revoke
    const reader = await startHost('follow', await newDir());
    const second = await startHost('publish', newerDir);
    await vi.waitFor(async () => expect((await readKeysFile(keysFilePath(newerDir)))?.keys[0]?.revokedAt).not.toBeNull(), within(RECOVERS_MS));
    await vi.waitFor(() => expect(accepts(second, created.key)).toBe(false), within(TAKES_EFFECT_MS));
    await vi.waitFor(() => expect(reader.replication.health()).toMatchObject({ source: 'nats', stale: false }), within(RECOVERS_MS));
    expect(accepts(reader, created.key)).toBe(false);
    expect((await bucketValues()).get(`key.${created.record.id}`)).toContain('"revokedAt":"');
  });
});
