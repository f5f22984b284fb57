// API keys through `idnc serve --replicate` and `--follow` (the built CLI) over a real 3-node
// JetStream cluster: a follower server on a new data directory answers with the writer's keys (and
// makes no first key of its own), a key revoked on the writer's host is refused by the follower
// within 2 s, both say where their keys come from in /healthz, and a follower that loses NATS keeps
// the last keys it saw, says they are stale, and takes a revoke made meanwhile once NATS is back.

import { describe, expect, test, vi } from 'vitest';
import { createKey, revokeKey } from '../../src/keys/key-admin.js';
import { freePort, killAll, pdnc, startServer, stopGracefully, waitUntilServing } from '../durability/server-process.js';
import { natsAvailable } from '../replicate/nats-cluster.js';
import { natsSuite } from '../replicate/nats-suite.js';

const within = (timeout: number) => ({ timeout, interval: 20 });

async function health(port: number): Promise<unknown> {
  return (await fetch(`http://127.0.0.1:${port}/healthz`)).json();
}

describe.skipIf(!natsAvailable())('idnc serve: API keys on every host', () => {
  const nats = natsSuite({ dirPrefixes: { writer: 'idnc-serve-keys-writer-', follower: 'idnc-serve-keys-follower-' }, afterEachTest: killAll, afterAllTests: killAll });

  test('a key revoked on the writer\'s host is refused by a follower server within 2 s; one that loses NATS keeps the last keys and catches up', async () => {
    const admin = (await createKey(nats.dirs.writer, { org: 'default', scopes: ['admin'] })).key;
    const dialer = await createKey(nats.dirs.writer, { org: 'default', scopes: ['read'] });
    const streamArgs = ['--replicate-stream', 'CLIKEYS'];
    const writer = startServer(nats.dirs.writer, await freePort(), ['--replicate', nats.cluster.servers, ...streamArgs]);
    await waitUntilServing(writer);
    const followerPort = await freePort();
    const follower = startServer(nats.dirs.follower, followerPort, ['--follow', nats.cluster.servers, ...streamArgs]);
    await waitUntilServing(follower);
    // Health first: polling with a key the follower does not have yet would run into the failed-auth throttle (429).
    await vi.waitFor(async () => expect(await health(followerPort)).toMatchObject({ status: 'ok', keys: { source: 'nats', stale: false } }), within(20_000));
    expect((await pdnc(followerPort, dialer.key, { actionType: 'count' })).status).toBe(200);
    await vi.waitFor(async () => expect(await health(writer.port)).toMatchObject({ status: 'ok', keys: { source: 'file', stale: false } }), within(10_000));

    await revokeKey(nats.dirs.writer, dialer.record.id);
    await vi.waitFor(async () => expect((await pdnc(followerPort, dialer.key, { actionType: 'count' })).status).toBe(401), within(2000));

    // A follower server does not start without NATS (it needs the stream); with NATS gone under it,
    // it keeps the last keys it saw, says they are stale, and takes a revoke made meanwhile once NATS is back.
    const other = await createKey(nats.dirs.writer, { org: 'default', scopes: ['read'] });
    await vi.waitFor(async () => expect((await pdnc(followerPort, other.key, { actionType: 'count' })).status).toBe(200), within(2000));
    await nats.cluster.killAll();
    await revokeKey(nats.dirs.writer, other.record.id);
    await vi.waitFor(async () => expect(await health(followerPort)).toMatchObject({ keys: { source: 'nats', stale: true } }), within(10_000));
    expect((await pdnc(followerPort, admin, { actionType: 'count' })).status).toBe(200);
    expect((await pdnc(followerPort, dialer.key, { actionType: 'count' })).status).toBe(401);
    await nats.cluster.startAll();
    await vi.waitFor(async () => expect((await pdnc(followerPort, other.key, { actionType: 'count' })).status).toBe(401), within(20_000));
    await vi.waitFor(async () => expect(await health(followerPort)).toMatchObject({ keys: { source: 'nats', stale: false } }), within(20_000));
    expect(await stopGracefully(follower)).toBe(0);
    await follower.closed;
    expect(follower.stdout).not.toMatch(/created the first API key/);
    expect(await stopGracefully(writer)).toBe(0);
  }, 120_000);
});
