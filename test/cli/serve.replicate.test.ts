// `idnc serve --replicate` and `idnc serve --follow` (the built CLI) over a real 3-node JetStream
// cluster: a change acknowledged by the writer shows in a read-only server that shares nothing with
// it but NATS; the follower answers changes 503 READ_ONLY_REPLICA; with NATS down the writer answers
// changes 503 REPLICATION_UNAVAILABLE while reads go on; a standby serves with the writer's keys and,
// once it took over, publishes its host's keys to the standing-by old writer (API keys in detail:
// serve.key-replication.test.ts); a standby's and a follower's refusals name the writer in
// `idnc-leader` and report the same replication in /healthz (under `--workers 2` from every worker;
// a standby makes no first key of its own), and `idnc import --url` sent to a standby lands on the
// writer; bad replication settings refuse to start.

import { execFile } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test, vi } from 'vitest';
import { createKey } from '../../src/keys/key-admin.js';
import { freePort, kill9, killAll, PDNC, pdnc, printed, startServer, stopGracefully, waitUntilServing } from '../durability/server-process.js';
import { openDnc } from '../../src/index.js';
import { makeTempDir, removeDir } from '../persist/helpers.js';
import { natsAvailable } from '../replicate/nats-cluster.js';
import { natsSuite } from '../replicate/nats-suite.js';

const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));

/** A change sent to `port`: its status, its error code and the writer it names (`idnc-leader`). */
async function change(port: number, key: string, phone: string): Promise<{ status: number; code: string | undefined; leader: string | null }> {
  const response = await fetch(`http://127.0.0.1:${port}${PDNC}`, {
    method: 'POST',
    headers: { loginId: key, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ actionType: 'add', phoneList: phone }).toString(),
  });
  const body = (await response.json()) as { code?: string };
  return { status: response.status, code: body.code, leader: response.headers.get('idnc-leader') };
}

/**
 * change(), on a new connection (`idnc serve --workers N` hands each to the next worker), with the
 * worker that answered (`idnc-worker`).
 */
function changeOnNewConnection(port: number, key: string, phone: string): Promise<{ worker: string | undefined; status: number; code: string | undefined; leader: string | null }> {
  const body = new URLSearchParams({ actionType: 'add', phoneList: phone }).toString();
  return new Promise((resolve, reject) => {
    const headers = { loginId: key, 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body) };
    const req = http.request({ host: '127.0.0.1', port, path: PDNC, method: 'POST', agent: false, headers }, (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => (text += chunk.toString()));
      res.on('end', () => {
        const leader = res.headers['idnc-leader'];
        resolve({ worker: res.headers['idnc-worker'] as string | undefined, status: res.statusCode!, code: (JSON.parse(text) as { code?: string }).code, leader: typeof leader === 'string' ? leader : null });
      });
    });
    req.setTimeout(5000, () => req.destroy(new Error('no answer within 5 s')));
    req.on('error', reject);
    req.end(body);
  });
}

/** GET /healthz on a new connection (each goes to the next worker of `--workers N`), with the worker that answered. */
function healthOnNewConnection(port: number): Promise<{ worker: string | undefined; body: { keys?: { source: string; stale: boolean }; replication?: unknown } }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: '/healthz', agent: false }, (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => (text += chunk.toString()));
      res.on('end', () => resolve({ worker: res.headers['idnc-worker'] as string | undefined, body: JSON.parse(text) as { keys?: { source: string; stale: boolean }; replication?: unknown } }));
    });
    req.setTimeout(5000, () => req.destroy(new Error('no answer within 5 s')));
    req.on('error', reject);
    req.end();
  });
}

/** GET /healthz's replication part. */
async function replicationHealth(port: number): Promise<unknown> {
  return ((await (await fetch(`http://127.0.0.1:${port}/healthz`)).json()) as { replication?: unknown }).replication;
}

/** `idnc import FILE --url URL` with the key in IDNC_KEY: its exit code and stderr. */
function importTo(url: string, file: string, key: string): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, 'import', file, '--url', url], { env: { ...process.env, IDNC_KEY: key } }, (error, _stdout, stderr) => {
      resolve({ code: error === null ? 0 : Number((error as { code?: number }).code ?? 1), stderr });
    });
  });
}

describe.skipIf(!natsAvailable())('idnc serve --replicate / --follow', () => {
  const nats = natsSuite({ dirPrefixes: { writer: 'idnc-serve-writer-', follower: 'idnc-serve-follower-' }, afterEachTest: killAll, afterAllTests: killAll });

  test('a change acknowledged by the writer shows on a follower server; writes there and with NATS down answer 503', async () => {
    const writerKey = (await createKey(nats.dirs.writer, { org: 'default', scopes: ['admin'] })).key;
    const followerKey = writerKey; // the follower's keys come from the writer's, through NATS
    const writer = startServer(nats.dirs.writer, await freePort(), ['--replicate', nats.cluster.servers, '--replicate-stream', 'CLI']);
    await waitUntilServing(writer);
    const added = await vi.waitFor(async () => {
      const answer = await pdnc(writer.port, writerKey, { actionType: 'add', phoneList: '4155550100' });
      if (answer.status !== 200) throw new Error(`add answered ${answer.status} ${answer.body}`);
      return answer;
    }, { timeout: 20_000, interval: 100 });
    expect(added.seq).toBe(1);

    const follower = startServer(nats.dirs.follower, await freePort(), ['--follow', nats.cluster.servers, '--replicate-stream', 'CLI']);
    await waitUntilServing(follower);
    await vi.waitFor(async () => {
      const status = await pdnc(follower.port, followerKey, { actionType: 'status', phoneList: '4155550100' });
      expect(JSON.parse(status.body)).toMatchObject([{ onList: true }]);
    }, { timeout: 10_000, interval: 50 });
    // The follower names the writer, as the writer lease says (read every second).
    const writerUrl = `http://127.0.0.1:${writer.port}`;
    await vi.waitFor(async () => expect(await change(follower.port, followerKey, '4155550101')).toEqual({ status: 503, code: 'READ_ONLY_REPLICA', leader: writerUrl }), { timeout: 10_000, interval: 100 });
    expect(await replicationHealth(writer.port)).toEqual({ role: 'writer', state: 'ready', reason: '', connected: true, lastSeq: 1, streamSeq: 1, lagMs: null, backlog: 0, leader: writerUrl });
    await vi.waitFor(async () => expect(await replicationHealth(follower.port)).toMatchObject({ role: 'follower', state: 'ready', connected: true, lastSeq: 1, streamSeq: 1, lagMs: expect.any(Number), leader: writerUrl }), { timeout: 10_000, interval: 100 });

    await nats.cluster.killAll();
    const unavailable = await vi.waitFor(async () => {
      const answer = await pdnc(writer.port, writerKey, { actionType: 'add', phoneList: '4155550102' });
      if (answer.status === 200) throw new Error('still acknowledged');
      return answer;
    }, { timeout: 20_000, interval: 50 });
    expect(unavailable.status).toBe(503);
    expect(JSON.parse(unavailable.body)).toMatchObject({ code: 'REPLICATION_UNAVAILABLE' });
    expect(await replicationHealth(writer.port)).toMatchObject({ role: 'writer', state: 'connecting', connected: false, lastSeq: 1 });
    const count = await pdnc(writer.port, writerKey, { actionType: 'count' });
    expect(count.status).toBe(200);
    await nats.cluster.startAll();
    expect(await stopGracefully(follower)).toBe(0);
    expect(await stopGracefully(writer)).toBe(0);
  }, 90_000);

  test('kill -9 of the writer under 8 concurrent clients: after the restart every acknowledged change is there, and a follower of the stream has the same digest', async () => {
    const key = (await createKey(nats.dirs.writer, { org: 'default', scopes: ['admin'] })).key;
    const args = ['--replicate', nats.cluster.servers, '--replicate-stream', 'CRASH'];
    const writer = startServer(nats.dirs.writer, await freePort(), args);
    await waitUntilServing(writer);
    await vi.waitFor(async () => expect((await pdnc(writer.port, key, { actionType: 'add', phoneList: '2125550000' })).status).toBe(200), { timeout: 20_000, interval: 100 });
    const acknowledged: string[] = [];
    let killed: Promise<void> | null = null;
    const client = async (index: number): Promise<void> => {
      for (let n = 0; killed === null; n++) {
        const phone = String(3_000_000_000 + index * 1_000_000 + n);
        const answer = await pdnc(writer.port, key, { actionType: 'add', phoneList: phone }).catch(() => null);
        if (answer?.status === 200) acknowledged.push(phone);
        if (acknowledged.length >= 300) killed ??= kill9(writer);
      }
    };
    await Promise.all(Array.from({ length: 8 }, (_, index) => client(index)));
    await killed;

    const restarted = startServer(nats.dirs.writer, await freePort(), args);
    await waitUntilServing(restarted);
    const engineCheck = async (): Promise<void> => {
      const status = await pdnc(restarted.port, key, { actionType: 'status', phoneList: acknowledged.join(',') });
      expect(status.status).toBe(200);
      expect((JSON.parse(status.body) as { onList: boolean }[]).every((entry) => entry.onList)).toBe(true);
    };
    await engineCheck();
    // The restarted writer publishes again (it may first catch up from the stream); then a follower
    // of the stream and the writer's own data directory hold the same state.
    const { seq } = await vi.waitFor(async () => {
      const answer = await pdnc(restarted.port, key, { actionType: 'add', phoneList: '2125550001' });
      if (answer.status !== 200 || answer.seq === null) throw new Error(`add answered ${answer.status}`);
      return answer as { seq: number };
    }, { timeout: 20_000, interval: 100 });
    expect(await stopGracefully(restarted)).toBe(0);
    const follower = await openDnc({ follow: { servers: nats.cluster.servers, stream: 'CRASH' } });
    const local = await openDnc({ dataDir: nats.dirs.writer });
    try {
      await follower.waitFor(seq, 20_000);
      expect(local.lastSeq).toBe(seq);
      expect(follower.digest()).toBe(local.digest());
    } finally {
      await follower.close();
      await local.close();
    }
  }, 90_000);

  test('failover: a standby answers NOT_LEADER and takes over from a writer paused past its lease (which never acknowledges again) and from one killed -9 under 8 clients, with every acknowledged change', async () => {
    const standbyDir = await makeTempDir('idnc-serve-standby-');
    try {
      const key = (await createKey(nats.dirs.writer, { org: 'default', scopes: ['admin'] })).key;
      // The standby's keys come from the writer's host, through NATS (it makes no first key of its own).
      const standbyKey = key;
      const args = ['--replicate', nats.cluster.servers, '--replicate-stream', 'FAILOVER', '--lease-ms', '1s'];
      const writer = startServer(nats.dirs.writer, await freePort(), args);
      await waitUntilServing(writer);
      await vi.waitFor(async () => expect((await pdnc(writer.port, key, { actionType: 'add', phoneList: '2125550000' })).status).toBe(200), { timeout: 20_000, interval: 100 });
      const standby = startServer(standbyDir, await freePort(), [...args, '--standby']);
      await waitUntilServing(standby);
      // The standby names the writer; an import sent to the standby lands there (one redirect).
      const writerUrl = `http://127.0.0.1:${writer.port}`;
      await vi.waitFor(async () => expect(await change(standby.port, standbyKey, '2125550001')).toEqual({ status: 503, code: 'NOT_LEADER', leader: writerUrl }), { timeout: 20_000, interval: 100 });
      // (Its state is 'standby', or 'reconciling' while it tries the lease again.)
      expect(await replicationHealth(standby.port)).toMatchObject({ role: 'standby', connected: true, lastSeq: 1, leader: writerUrl });
      const list = path.join(standbyDir, 'import.txt');
      await fs.promises.writeFile(list, '2125550002\n');
      const imported = await importTo(`http://127.0.0.1:${standby.port}`, list, standbyKey);
      expect(imported).toMatchObject({ code: 0, stderr: expect.stringContaining(`sending to the writer it names, ${writerUrl}`) });
      expect(JSON.parse((await pdnc(writer.port, key, { actionType: 'status', phoneList: '2125550002' })).body)).toMatchObject([{ onList: true }]);

      // SIGSTOP the writer past its lease: the standby takes over; the writer, woken, never acknowledges.
      const acknowledged: string[] = ['2125550000', '2125550002'];
      for (let n = 0; n < 20; n++) {
        const phone = String(3_125_550_000 + n);
        if ((await pdnc(writer.port, key, { actionType: 'add', phoneList: phone })).status === 200) acknowledged.push(phone);
      }
      writer.child.kill('SIGSTOP');
      const tookOver = await vi.waitFor(async () => {
        const answer = await pdnc(standby.port, standbyKey, { actionType: 'add', phoneList: '4125550000' });
        if (answer.status !== 200) throw new Error(`standby answered ${answer.status} ${answer.body}`);
        return answer;
      }, { timeout: 20_000, interval: 100 });
      acknowledged.push('4125550000');
      expect(tookOver.seq).toBe(acknowledged.length);
      writer.child.kill('SIGCONT');
      for (let n = 0; n < 5; n++) expect((await pdnc(writer.port, key, { actionType: 'add', phoneList: String(5_125_550_000 + n) })).status).toBe(503);

      // The old writer, restarted, stands by; kill -9 of the new writer under 8 clients: it takes over.
      await kill9(writer);
      const again = startServer(nats.dirs.writer, await freePort(), args);
      await waitUntilServing(again);
      // The new writer publishes its host's keys; the old one, standing by, copies them.
      const created = await createKey(standbyDir, { org: 'default', scopes: ['read'] });
      await vi.waitFor(async () => expect((await pdnc(again.port, created.key, { actionType: 'count' })).status).toBe(200), { timeout: 20_000, interval: 100 });
      let killed: Promise<void> | null = null;
      const client = async (index: number): Promise<void> => {
        for (let n = 0; killed === null; n++) {
          const phone = String(6_000_000_000 + index * 1_000_000 + n);
          const answer = await pdnc(standby.port, standbyKey, { actionType: 'add', phoneList: phone }).catch(() => null);
          if (answer?.status === 200) acknowledged.push(phone);
          if (acknowledged.length >= 200) killed ??= kill9(standby);
        }
      };
      await Promise.all(Array.from({ length: 8 }, (_, index) => client(index)));
      await killed;
      const { seq } = await vi.waitFor(async () => {
        const answer = await pdnc(again.port, key, { actionType: 'add', phoneList: '7125550000' });
        if (answer.status !== 200 || answer.seq === null) throw new Error(`the restarted writer answered ${answer.status} ${answer.body}`);
        return answer as { seq: number };
      }, { timeout: 20_000, interval: 100 });
      acknowledged.push('7125550000');
      const status = await pdnc(again.port, key, { actionType: 'status', phoneList: acknowledged.join(',') });
      expect((JSON.parse(status.body) as { onList: boolean }[]).every((entry) => entry.onList)).toBe(true);
      expect((JSON.parse((await pdnc(again.port, key, { actionType: 'status', phoneList: '5125550000' })).body) as { onList: boolean }[])[0]!.onList).toBe(false);
      expect(await stopGracefully(again)).toBe(0);
      // A follower of the stream and the last writer's data directory hold the same state.
      const follower = await openDnc({ follow: { servers: nats.cluster.servers, stream: 'FAILOVER' } });
      const local = await openDnc({ dataDir: nats.dirs.writer });
      try {
        await follower.waitFor(seq, 20_000);
        expect(local.lastSeq).toBe(seq);
        expect(follower.digest()).toBe(local.digest());
      } finally {
        await follower.close();
        await local.close();
      }
    } finally {
      await killAll();
      await removeDir(standbyDir);
    }
  }, 90_000);

  test('a standby under --workers 2 names the writer in idnc-leader and in /healthz from every worker, the follower worker too, and makes no first key', async () => {
    const standbyDir = await makeTempDir('idnc-serve-standby-');
    try {
      const key = (await createKey(nats.dirs.writer, { org: 'default', scopes: ['admin'] })).key;
      const args = ['--replicate', nats.cluster.servers, '--replicate-stream', 'WORKERS'];
      const writer = startServer(nats.dirs.writer, await freePort(), args);
      await waitUntilServing(writer);
      await vi.waitFor(async () => expect((await pdnc(writer.port, key, { actionType: 'add', phoneList: '2125550000' })).status).toBe(200), { timeout: 20_000, interval: 100 });
      const standby = startServer(standbyDir, await freePort(), [...args, '--standby', '--workers', '2']);
      await printed(standby, 'stderr', /serving on port \d+ with 2 workers/);
      // Until the standby copied the writer's keys a worker answers 401; a follower worker's NOT_LEADER
      // is counted once the writer worker has been seen naming the writer (it knows the URL from then on).
      const writerUrl = `http://127.0.0.1:${writer.port}`;
      const refusals = new Map<string, Awaited<ReturnType<typeof changeOnNewConnection>>>();
      await vi.waitFor(async () => {
        const answer = await changeOnNewConnection(standby.port, key, '2125550001');
        if (answer.code === 'NOT_LEADER' && (answer.worker === '0' || refusals.get('0')?.leader === writerUrl)) refusals.set(answer.worker!, answer);
        expect(refusals.get('0')?.leader).toBe(writerUrl);
        expect(refusals.has('1')).toBe(true);
      }, { timeout: 20_000, interval: 50 });
      expect(refusals.get('1')).toEqual({ worker: '1', status: 503, code: 'NOT_LEADER', leader: writerUrl });
      // /healthz says the same from either worker: the writer worker's replication and keys parts.
      const health = new Map<string, Awaited<ReturnType<typeof healthOnNewConnection>>['body']>();
      await vi.waitFor(async () => {
        const answer = await healthOnNewConnection(standby.port);
        health.set(answer.worker!, answer.body);
        expect(health.get('0')?.keys).toMatchObject({ source: 'nats', stale: false });
        expect(health.has('1')).toBe(true);
      }, { timeout: 20_000, interval: 50 });
      expect(health.get('0')?.replication).toMatchObject({ role: 'standby', connected: true, lastSeq: 1, streamSeq: 1, lagMs: null, backlog: 0, leader: writerUrl });
      // Asked at another moment: the state may be 'reconciling' while the standby tries the lease.
      const { state, reason, ...same } = health.get('0')!.replication as Record<string, unknown>;
      expect([state, reason]).not.toContain(undefined);
      expect(health.get('1')?.replication).toMatchObject({ ...same, state: expect.stringMatching(/^(standby|reconciling)$/) });
      expect(health.get('1')?.keys).toMatchObject({ source: 'nats', stale: false });
      expect(await stopGracefully(standby)).toBe(0);
      expect(await stopGracefully(writer)).toBe(0);
      // The standby's keys come from the writer through NATS: its primary makes and prints none of its own.
      expect(standby.stdout).not.toMatch(/created the first API key/);
    } finally {
      await killAll();
      await removeDir(standbyDir);
    }
  }, 60_000);

  test('refuses --replicate with --follow, and a bad --replicate-ack', async () => {
    const both = startServer(nats.dirs.writer, await freePort(), ['--replicate', nats.cluster.servers, '--follow', nats.cluster.servers]);
    expect(await both.exited).toBe(1);
    expect(both.stderr).toMatch(/--replicate and --follow exclude each other/);
    const badAck = startServer(nats.dirs.writer, await freePort(), ['--replicate', nats.cluster.servers, '--replicate-ack', 'majority']);
    expect(await badAck.exited).toBe(1);
    expect(badAck.stderr).toMatch(/--replicate-ack "majority": expected quorum or local/);
  });
});
