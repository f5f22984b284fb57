// A follower in its own process (the built library, follower-child.mjs) beside the built server
// (`node dist/cli/main.js serve`): it sees adds made through the HTTP API within milliseconds, keeps
// up across snapshots with segment removal (even when it was stopped while they happened), across a
// writer restart, and across a writer killed mid-append whose torn record it never applies.

import fs from 'node:fs';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { openDnc } from '../../src/index.js';
import { listDataDir } from '../../src/persist/data-dir.js';
import { encodeRecord } from '../../src/persist/record.js';
import { firstKeyOf, freePort, kill9, killAll, pdnc, startServer, stopGracefully, waitUntilServing, type ServerProcess } from '../durability/server-process.js';
import { makeTempDir, numbers, removeDir } from '../persist/helpers.js';
import { FollowerProcess, killAllFollowers } from './follower-process.js';

const TEST_TIMEOUT_MS = 60_000;
let dir: string;

beforeEach(async () => {
  dir = await makeTempDir('idnc-follower-cli-');
});
afterEach(async () => {
  await killAllFollowers();
  await killAll();
  await removeDir(dir);
});
afterAll(async () => {
  await killAllFollowers();
  await killAll();
});

async function serve(extraArgs: string[] = []): Promise<ServerProcess> {
  const server = startServer(dir, await freePort(), extraArgs);
  await waitUntilServing(server);
  return server;
}

async function add(server: ServerProcess, key: string, phoneList: string): Promise<number> {
  const answer = await pdnc(server.port, key, { actionType: 'add', phoneList });
  expect(answer.status).toBe(200);
  expect(answer.seq).not.toBeNull();
  return answer.seq!;
}

async function referenceDigest(): Promise<string> {
  const reader = await openDnc({ dataDir: dir, readOnly: true });
  try {
    return reader.digest();
  } finally {
    await reader.close();
  }
}

describe('follower process beside the built server', () => {
  it('sees every add made through the HTTP API', async () => {
    const server = await serve();
    const key = await firstKeyOf(server);
    const follower = await FollowerProcess.start(dir);
    const phones = numbers(100, 4_155_550_000);
    // How fast is bench/follower.bench.ts's to measure; here every add must arrive.
    for (const phone of phones) await follower.appliedAt(await add(server, key, phone));
    const state = await follower.state([phones[0]!, phones[99]!, '4155559999']);
    expect(state.blocked).toEqual([true, true, false]);
    expect(state.count).toBe(100);
    await stopGracefully(server);
    expect(state.digest).toBe(await referenceDigest());
  }, TEST_TIMEOUT_MS);

  it('keeps up across snapshots and segment removal (also while stopped) and across a writer restart', async () => {
    let server = await serve(['--snapshot-log-bytes', '600']);
    const key = await firstKeyOf(server);
    const follower = await FollowerProcess.start(dir);
    let seq = 0;
    for (let i = 0; i < 20; i++) seq = await add(server, key, numbers(3, 2_125_550_000 + i * 3).join(','));
    await follower.appliedAt(seq);

    // Stopped while the writer snapshots and removes the segments it was reading: it must reload.
    const stoppedAt = (await follower.state()).lastSeq;
    follower.child.kill('SIGSTOP');
    for (let i = 0; i < 40; i++) seq = await add(server, key, numbers(3, 3_125_550_000 + i * 3).join(','));
    const { segments } = await listDataDir(dir);
    expect(segments[0]!.firstSeq).toBeGreaterThan(stoppedAt + 1);
    follower.child.kill('SIGCONT');
    await follower.appliedAt(seq);

    expect(await stopGracefully(server)).toBe(0);
    server = await serve(['--snapshot-log-bytes', '600']);
    for (let i = 0; i < 5; i++) seq = await add(server, key, numbers(2, 5_125_550_000 + i * 2).join(','));
    await follower.appliedAt(seq);
    const state = await follower.state();
    expect(state.lastSeq).toBe(seq);
    expect(state.count).toBe(20 * 3 + 40 * 3 + 5 * 2);
    expect(await stopGracefully(server)).toBe(0);
    expect(state.digest).toBe(await referenceDigest());
    expect(follower.stderr).toMatch(/reloading .* from its newest snapshot/);
  }, TEST_TIMEOUT_MS);

  it('survives the writer killed mid-append: never applies the torn record, applies the one written after the restart once', async () => {
    let server = await serve();
    const key = await firstKeyOf(server);
    const follower = await FollowerProcess.start(dir);
    let seq = 0;
    for (let i = 0; i < 5; i++) seq = await add(server, key, numbers(1, 6_125_550_000 + i)[0]!);
    await follower.appliedAt(seq);
    await kill9(server);

    const torn = encodeRecord(seq + 1, { op: 'add', org: 'default', projId: '', numbers: new Float64Array([7_135_550_000]), ts: Date.now(), keyId: null });
    const { segments } = await listDataDir(dir);
    const tornAt = Date.now();
    fs.appendFileSync(segments.at(-1)!.path, torn.subarray(0, torn.length - 3));
    // The follower has read past the torn record once a check started after it found it current:
    // its clock read the state after `asked`, so asked - lagMs is no later than that check's start.
    let state = await vi.waitFor(
      async () => {
        const asked = Date.now();
        const answer = await follower.state(['7135550000']);
        expect(asked - answer.lagMs).toBeGreaterThan(tornAt);
        return answer;
      },
      { timeout: 10_000, interval: 10 },
    );
    expect(state.lastSeq).toBe(seq);
    expect(state.blocked).toEqual([false]);

    server = await serve();
    expect(server.stderr).toMatch(/torn log tail cut/);
    const next = await add(server, key, '8135550000');
    expect(next).toBe(seq + 1);
    await follower.appliedAt(next);
    state = await follower.state(['7135550000', '8135550000']);
    expect(state.blocked).toEqual([false, true]);
    expect(state.count).toBe(6);
    expect(follower.applied.filter((entry) => entry.seq === next)).toHaveLength(1);
    expect(await stopGracefully(server)).toBe(0);
    expect(state.digest).toBe(await referenceDigest());
  }, TEST_TIMEOUT_MS);
});
