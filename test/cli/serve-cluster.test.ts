// `idnc serve --workers N` as users run it (the built CLI): one port, one writer worker and
// follower workers that identify themselves (`idnc-worker` header). An add answered by any worker is
// already visible in the status of every worker; errors of the writer reach a client of a follower
// with the same status, code and body; a killed worker is restarted; the banner prints once; SIGTERM
// and SIGINT stop every worker and exit 0.

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { AUTH_FAILURES_BURST, AUTH_FAILURES_PER_SECOND, CLUSTER_RATE_LEASE_FRACTION } from '../../src/constants.js';
import { freePort } from '../durability/server-process.js';
import { makeTempDir, numbers, removeDir } from '../persist/helpers.js';

const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
const PDNC = '/app/main/rpc/pdnc';
const TEST_TIMEOUT_MS = 60_000;
const children: ChildProcess[] = [];
let dir: string;

interface Cluster {
  readonly child: ChildProcess;
  readonly port: number;
  stdout: string;
  stderr: string;
  readonly exited: Promise<number | null>;
}

interface Answer {
  readonly status: number;
  readonly worker: string | undefined;
  readonly seq: string | undefined;
  readonly body: string;
}

beforeEach(async () => {
  dir = await makeTempDir('idnc-cluster-');
});
afterEach(async () => {
  for (const child of children.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) {
      // The primary's group: its workers too (they would stop on their own once it is gone).
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    }
  }
  await removeDir(dir);
});

function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of ['IDNC_HOST', 'IDNC_PORT', 'IDNC_DATA_DIR', 'IDNC_WORKERS']) delete env[name];
  return env;
}

async function startCluster(args: string[], dataDir = dir, env: NodeJS.ProcessEnv = {}): Promise<Cluster> {
  const port = await freePort();
  const child = spawn(process.execPath, [CLI, 'serve', '--port', String(port), '--data-dir', dataDir, ...args], {
    env: { ...cleanEnv(), ...env },
    detached: true,
  });
  children.push(child);
  const cluster: Cluster = {
    child,
    port,
    stdout: '',
    stderr: '',
    exited: new Promise((resolve) => child.once('exit', (code) => resolve(code))),
  };
  child.stdout!.on('data', (chunk: Buffer) => (cluster.stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (cluster.stderr += chunk.toString()));
  const started = vi.waitFor(() => expect(cluster.stderr).toMatch(/serving on port \d+ with \d+ workers/), { timeout: 20_000, interval: 25 });
  const exited = cluster.exited.then((code) => {
    throw new Error(`cluster exited with ${code}:\n${cluster.stderr}`);
  });
  exited.catch(() => undefined); // a later exit (the test's own stop) is no failure
  await Promise.race([started, exited]);
  return cluster;
}

/**
 * The admin key the first start printed on stdout. Waited for: the start is detected on stderr,
 * and the two pipes are read independently, so stdout's chunk can arrive after stderr's.
 */
async function keyOf(cluster: Cluster): Promise<string> {
  return vi.waitFor(
    () => {
      const match = /loginId: ([^']+)'/.exec(cluster.stdout);
      if (match === null) throw new Error(`no key on the cluster's stdout:\n${cluster.stdout}`);
      return match[1]!;
    },
    { timeout: 5_000, interval: 10 },
  );
}

/**
 * One request, on a new connection (the cluster's round-robin spreads those over the workers) or on
 * the kept-alive connection of `agent` (always the same worker).
 */
function request(port: number, key: string, params: Record<string, string>, agent: http.Agent | false = false): Promise<Answer> {
  const body = new URLSearchParams(params).toString();
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, path: PDNC, method: 'POST', agent, headers: { loginId: key, 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body) } },
      (res) => {
        let text = '';
        res.on('data', (chunk: Buffer) => (text += chunk.toString()));
        res.on('end', () =>
          resolve({ status: res.statusCode!, worker: res.headers['idnc-worker'] as string | undefined, seq: res.headers['idnc-seq'] as string | undefined, body: text }),
        );
      },
    );
    // A connection handed to a worker at the moment it is killed is lost: give up on it, never hang.
    req.setTimeout(3000, () => req.destroy(new Error('no answer within 3 s')));
    req.on('error', reject);
    req.end(body);
  });
}

/** A bodyless request of any method and path (the /v1/lists routes), on `agent` as for request(). */
function call(port: number, key: string, method: string, urlPath: string, agent: http.Agent | false): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: urlPath, method, agent, headers: { loginId: key } }, (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => (text += chunk.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, worker: res.headers['idnc-worker'] as string | undefined, seq: res.headers['idnc-seq'] as string | undefined, body: text }));
    });
    req.setTimeout(3000, () => req.destroy(new Error('no answer within 3 s')));
    req.on('error', reject);
    req.end();
  });
}

function workerPids(cluster: Cluster, role: 'writer' | 'follower'): number[] {
  const pids = new Set<number>();
  for (const line of cluster.stderr.split('\n')) {
    const match = new RegExp(`"pid":(\\d+),.*"role":"${role}"`).exec(line);
    if (match !== null) pids.add(Number(match[1]));
  }
  return [...pids];
}

describe('idnc serve --workers', () => {
  it('answers an add only once every worker shows it in status; workers identify themselves', async () => {
    // Slow followers (no file watching, a poll every 150 ms): without the cluster waiting for every
    // worker before it answers, a status right after an add would often miss it.
    const cluster = await startCluster(['--workers', '3'], dir, { IDNC_FOLLOWER_WATCH: '0', IDNC_FOLLOWER_POLL_MS: '150' });
    const key = await keyOf(cluster);
    expect(cluster.stdout.match(/created the first API key/g)).toHaveLength(1);
    // One kept-alive connection per worker, so the status right after an add reaches every worker at once.
    const pinned = new Map<string, http.Agent>();
    for (let i = 0; i < 30 && pinned.size < 3; i++) {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      const answer = await request(cluster.port, key, { actionType: 'count' }, agent);
      if (pinned.has(answer.worker!)) agent.destroy();
      else pinned.set(answer.worker!, agent);
    }
    expect([...pinned.keys()].sort()).toEqual(['0', '1', '2']);
    const agents = [...pinned.entries()];
    const phones = numbers(12, 7_025_550_000);
    for (let i = 0; i < phones.length; i++) {
      const [via, agent] = agents[i % agents.length]!;
      const added = await request(cluster.port, key, { actionType: 'add', phoneList: phones[i]! }, agent);
      expect(added).toMatchObject({ status: 200, worker: via });
      const statuses = await Promise.all(agents.map(([, other]) => request(cluster.port, key, { actionType: 'status', phoneList: phones[i]! }, other)));
      for (const status of statuses) {
        expect(JSON.parse(status.body)[0], `status from worker ${status.worker} right after the add through worker ${via}`).toMatchObject({ onList: true });
      }
    }
    for (const agent of pinned.values()) agent.destroy();
    // New connections spread over every worker too.
    const statusFrom = new Set<string>();
    for (let i = 0; i < 9; i++) statusFrom.add((await request(cluster.port, key, { actionType: 'status', phoneList: phones[0]! })).worker!);
    expect([...statusFrom].sort()).toEqual(['0', '1', '2']);
    const counts = new Set<string>();
    for (let i = 0; i < 6; i++) counts.add((await request(cluster.port, key, { actionType: 'count' })).body);
    expect([...counts]).toEqual(['12']);

    cluster.child.kill('SIGTERM');
    expect(await cluster.exited).toBe(0);
    expect(cluster.stderr).toMatch(/stopping the follower workers, then the writer/);
  }, TEST_TIMEOUT_MS);

  it('gives the same answers from the writer and a follower, restarts a killed worker, stops on SIGINT', async () => {
    const cluster = await startCluster(['--workers', '2']);
    const key = await keyOf(cluster);
    const bad = { actionType: 'add', phoneList: '5039367187,12345' };
    const answers = new Map<string, Answer>();
    for (let i = 0; i < 6; i++) {
      const answer = await request(cluster.port, key, bad);
      answers.set(answer.worker!, answer);
    }
    expect([...answers.keys()].sort()).toEqual(['0', '1']);
    expect(answers.get('1')!.status).toBe(400);
    expect(answers.get('1')!.body).toBe(answers.get('0')!.body);
    expect(JSON.parse(answers.get('1')!.body)).toMatchObject({ code: 'INVALID_PHONE', invalid: ['12345'] });

    // The writer dies: followers go on answering reads, writes come back once it is restarted.
    const [writerPid] = workerPids(cluster, 'writer');
    process.kill(writerPid!, 'SIGKILL');
    const refusals: string[] = [];
    await vi.waitFor(
      async () => {
        const answer = await request(cluster.port, key, { actionType: 'add', phoneList: '6175550100' }).catch(() => null);
        if (answer !== null && answer.status !== 200) refusals.push((JSON.parse(answer.body) as { code: string }).code);
        expect(answer?.status).toBe(200);
      },
      { timeout: 20_000, interval: 50 },
    );
    for (const code of refusals) expect(code).toMatch(/STORAGE_UNAVAILABLE|CLOSED/);
    expect(cluster.stderr).toMatch(/worker 0 \(writer\) exited with signal SIGKILL; restarting it/);
    expect(workerPids(cluster, 'writer')).toHaveLength(2);
    for (let i = 0; i < 4; i++) {
      const status = await request(cluster.port, key, { actionType: 'status', phoneList: '6175550100' });
      expect(JSON.parse(status.body)[0].onList).toBe(true);
    }

    cluster.child.kill('SIGINT');
    expect(await cluster.exited).toBe(0);
    for (const pid of [...workerPids(cluster, 'writer'), ...workerPids(cluster, 'follower')]) {
      expect(() => process.kill(pid, 0)).toThrow();
    }
  }, TEST_TIMEOUT_MS);

  it('drops a list through the writer or a follower, each answer given once every worker shows the drop', async () => {
    const cluster = await startCluster(['--workers', '2'], dir, { IDNC_FOLLOWER_WATCH: '0', IDNC_FOLLOWER_POLL_MS: '150' });
    const key = await keyOf(cluster);
    const pinned = new Map<string, http.Agent>();
    for (let i = 0; i < 30 && pinned.size < 2; i++) {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      const answer = await request(cluster.port, key, { actionType: 'count' }, agent);
      if (pinned.has(answer.worker!)) agent.destroy();
      else pinned.set(answer.worker!, agent);
    }
    expect([...pinned.keys()].sort()).toEqual(['0', '1']);
    for (const projId of ['p0', 'p1', 'keep']) expect((await request(cluster.port, key, { actionType: 'add', phoneList: '6175550100,6175550101', projId })).status).toBe(200);
    const projIdsOn = async (agent: http.Agent): Promise<string[]> =>
      (JSON.parse((await call(cluster.port, key, 'GET', '/v1/lists', agent)).body) as { lists: { projId: string }[] }).lists.map((list) => list.projId);
    for (const [worker, agent] of pinned) {
      const dropped = await call(cluster.port, key, 'DELETE', `/v1/lists/p${worker}`, agent);
      expect(dropped, `drop through worker ${worker}`).toMatchObject({ status: 200, worker });
      expect(JSON.parse(dropped.body)).toEqual({ projId: `p${worker}`, numbers: 2, seq: Number(dropped.seq) });
      for (const other of pinned.values()) expect(await projIdsOn(other)).not.toContain(`p${worker}`);
    }
    for (const agent of pinned.values()) {
      expect(await projIdsOn(agent)).toEqual(['keep']);
      const again = await call(cluster.port, key, 'DELETE', '/v1/lists/p0', agent);
      expect(again.status).toBe(404);
      expect(JSON.parse(again.body)).toMatchObject({ code: 'LIST_NOT_FOUND' });
      agent.destroy();
    }
    cluster.child.kill('SIGTERM');
    expect(await cluster.exited).toBe(0);
  }, TEST_TIMEOUT_MS);

  it('refuses an invalid worker count, naming the setting', async () => {
    for (const value of ['0', 'many', '65']) {
      const run = spawn(process.execPath, [CLI, 'serve', '--workers', value, '--data-dir', dir, '--port', '0'], { env: cleanEnv() });
      children.push(run);
      let stderr = '';
      run.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const code = await new Promise((resolve) => run.once('exit', resolve));
      expect(code).toBe(1);
      expect(stderr).toContain(`--workers (IDNC_WORKERS) "${value}"`);
    }
  }, TEST_TIMEOUT_MS);

  it('a full disk gives a client of a follower the same 503 STORAGE_UNAVAILABLE as a client of the writer', async (context) => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'idnc-cluster-full-'));
    const mountPoint = path.join(root, 'tmpfs');
    fs.mkdirSync(mountPoint);
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mountPoint], { stdio: 'pipe' });
    } catch {
      fs.rmSync(root, { recursive: true, force: true });
      context.skip();
      return;
    }
    try {
      const cluster = await startCluster(['--workers', '2'], path.join(mountPoint, 'data'));
      const key = await keyOf(cluster);
      const filler = fs.openSync(path.join(mountPoint, 'filler'), 'w');
      try {
        for (;;) fs.writeSync(filler, Buffer.alloc(64 * 1024, 1));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
      } finally {
        fs.closeSync(filler);
      }
      const big = Array.from({ length: 20_000 }, (_, i) => String(3_002_000_000 + i * 11)).join(',');
      const answers = new Map<string, Answer>();
      for (let i = 0; i < 4; i++) {
        const answer = await request(cluster.port, key, { actionType: 'add', phoneList: big });
        answers.set(answer.worker!, answer);
      }
      expect([...answers.keys()].sort()).toEqual(['0', '1']);
      expect(answers.get('1')!.status).toBe(503);
      expect(JSON.parse(answers.get('1')!.body).code).toBe('STORAGE_UNAVAILABLE');
      expect(answers.get('1')!.body).toBe(answers.get('0')!.body);
      fs.rmSync(path.join(mountPoint, 'filler'));
      cluster.child.kill('SIGTERM');
      expect(await cluster.exited).toBe(0);
    } finally {
      execFileSync('umount', ['-l', mountPoint]);
      fs.rmSync(root, { recursive: true, force: true });
    }
  }, TEST_TIMEOUT_MS);
});

/** A key of organisation "default" made with the CLI before the cluster starts (no first key then). */
function createKey(dataDir: string, name: string, rateLimit: number): string {
  const args = [CLI, 'keys', 'create', '--org', 'default', '--scopes', 'read', '--name', name, '--rate-limit', String(rateLimit), '--data-dir', dataDir];
  return execFileSync(process.execPath, args, { env: cleanEnv(), stdio: ['ignore', 'pipe', 'pipe'] }).toString().trim();
}

/** `total` count requests, `concurrency` at a time, each on a new connection (spread over the workers). */
async function flood(port: number, key: string, total: number, concurrency: number): Promise<{ answers: Answer[]; seconds: number }> {
  const answers: Answer[] = [];
  const started = performance.now();
  let sent = 0;
  const lane = async (): Promise<void> => {
    while (sent < total) {
      sent++;
      answers.push(await request(port, key, { actionType: 'count' }));
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
  return { answers, seconds: (performance.now() - started) / 1000 };
}

function byWorker(answers: readonly Answer[], status: number): Map<string, number> {
  const counts = new Map<string, number>();
  for (const answer of answers) if (answer.status === status) counts.set(answer.worker!, (counts.get(answer.worker!) ?? 0) + 1);
  return counts;
}

describe('idnc serve --workers: limits hold for the server as a whole', () => {
  it('a key limited to N requests per second gets at most its bucket through, whichever worker answers', async () => {
    // 20/s: every request asks the primary (no stock); 200/s: each worker holds 5 tokens ahead.
    const limits = [20, 200];
    const keys = limits.map((perSecond) => createKey(dir, `limited-${perSecond}`, perSecond));
    const cluster = await startCluster(['--workers', '2']);
    for (const [i, perSecond] of limits.entries()) {
      // Five times what the bucket holds, as fast as the client can: each worker on its own would
      // let a full bucket through, the two together twice the limit.
      const { answers, seconds } = await flood(cluster.port, keys[i]!, 5 * perSecond, 8);
      const passed = answers.filter((answer) => answer.status === 200).length;
      const refused = answers.filter((answer) => answer.status === 429).length;
      expect(passed + refused, `every answer is 200 or 429 (${perSecond}/s)`).toBe(answers.length);
      expect([...byWorker(answers, 200).keys()].sort(), `both workers let requests through (${perSecond}/s)`).toEqual(['0', '1']);
      // The documented bucket: one second's worth at once (plus what workers hold ahead), then the
      // rate; the window is the client's, which contains the server's.
      const allowed = perSecond * (1 + CLUSTER_RATE_LEASE_FRACTION) + perSecond * 1.1 * seconds;
      expect(passed, `${perSecond}/s over ${seconds.toFixed(2)} s`).toBeLessThanOrEqual(Math.floor(allowed));
      // The full bucket at the start passes: the limit is not enforced by refusing too much.
      expect(passed, `${perSecond}/s over ${seconds.toFixed(2)} s`).toBeGreaterThanOrEqual(perSecond);
    }
    cluster.child.kill('SIGTERM');
    expect(await cluster.exited).toBe(0);
  }, TEST_TIMEOUT_MS);

  it('failed authentications from one address reach 429 at the documented count, whichever worker they hit', async () => {
    const valid = createKey(dir, 'valid', 0);
    const cluster = await startCluster(['--workers', '2']);
    const failures: Answer[] = [];
    let slowed: Answer | undefined;
    const started = performance.now();
    // Twice the burst would pass if each worker counted on its own.
    for (let i = 0; i < 3 * AUTH_FAILURES_BURST && slowed === undefined; i++) {
      const answer = await request(cluster.port, 'idnc_wrong', { actionType: 'count' });
      if (answer.status === 429) slowed = answer;
      else failures.push(answer);
    }
    expect(slowed, 'a 429 came').toBeDefined();
    expect(JSON.parse(slowed!.body).code).toBe('RATE_LIMITED');
    expect(failures.every((answer) => answer.status === 401)).toBe(true);
    expect([...byWorker(failures, 401).keys()].sort()).toEqual(['0', '1']);
    // The burst, plus one earned back per second the failures took (however slow this machine is):
    // within 10 %.
    const earned = Math.ceil(((performance.now() - started) / 1000) * AUTH_FAILURES_PER_SECOND);
    expect(failures.length).toBeGreaterThanOrEqual(Math.floor(AUTH_FAILURES_BURST * 0.9));
    expect(failures.length).toBeLessThanOrEqual(Math.ceil((AUTH_FAILURES_BURST + earned) * 1.1));
    // Every worker refuses the address now; a valid key from it still passes on every worker.
    const after = await Promise.all(Array.from({ length: 4 }, () => request(cluster.port, 'idnc_wrong', { actionType: 'count' })));
    expect(after.map((answer) => answer.status)).toEqual([429, 429, 429, 429]);
    const validAnswers = await Promise.all(Array.from({ length: 4 }, () => request(cluster.port, valid, { actionType: 'count' })));
    expect(validAnswers.map((answer) => answer.status)).toEqual([200, 200, 200, 200]);
    expect([...byWorker(validAnswers, 200).keys()].sort()).toEqual(['0', '1']);
    cluster.child.kill('SIGTERM');
    expect(await cluster.exited).toBe(0);
  }, TEST_TIMEOUT_MS);
});
