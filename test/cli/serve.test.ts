// The built CLI as users run it: `idnc serve` prints the first key with a curl line that works,
// `idnc keys create|list|revoke` act on the directory of the running server (which notices), and
// SIGTERM/SIGINT finish in-flight requests and exit 0.

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

const run = promisify(execFile);
const cli = new URL('../../dist/cli/main.js', import.meta.url).pathname;
const PDNC = '/app/main/rpc/pdnc';

interface Server {
  readonly child: ChildProcess;
  stdout: string;
  stderr: string;
  readonly exited: Promise<number | null>;
}

let dir: string;
const children: ChildProcess[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'idnc-cli-'));
});
afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await rm(dir, { recursive: true, force: true });
});

function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.IDNC_HOST;
  delete env.IDNC_PORT;
  delete env.IDNC_DATA_DIR;
  return env;
}

function startServer(): Server {
  const child = spawn(process.execPath, [cli, 'serve', '--port', '0', '--data-dir', dir], { cwd: dir, env: cleanEnv() });
  children.push(child);
  const server: Server = {
    child,
    stdout: '',
    stderr: '',
    exited: new Promise((resolve) => child.on('exit', (code) => resolve(code))),
  };
  child.stdout!.on('data', (chunk: Buffer) => (server.stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (server.stderr += chunk.toString()));
  return server;
}

/** Waits until the child has printed a line matching `pattern` and returns the match. */
async function printed(output: () => string, pattern: RegExp): Promise<RegExpExecArray> {
  return vi.waitFor(
    () => {
      const match = pattern.exec(output());
      if (match === null) throw new Error(`nothing printed matches ${pattern}:\n${output()}`);
      return match;
    },
    { timeout: 10_000, interval: 25 },
  );
}

/** Waits until requests with `key` get `status` (the server re-reads keys.json when it changes). */
async function answers(base: string, key: string, status: number): Promise<void> {
  await vi.waitFor(async () => expect(await statusOf(base, key, 'actionType=count')).toBe(status), { timeout: 10_000, interval: 25 });
}

function keys(...args: string[]): Promise<{ stdout: string; stderr: string }> {
  return run(process.execPath, [cli, 'keys', ...args, '--data-dir', dir], { env: cleanEnv() });
}

async function statusOf(base: string, key: string, query: string): Promise<number> {
  return (await fetch(`${base}${PDNC}?${query}`, { headers: { loginId: key } })).status;
}

describe('idnc serve (built CLI)', () => {
  it('refuses to start on a directory with data whose keys.json is gone, creating no key', { timeout: 60_000 }, async () => {
    const first = startServer();
    const [, adminKey, url] = (await printed(() => first.stdout, /curl -H 'loginId: (idnc_\S+)' '(http:\/\/\S+)'/)) as unknown as [string, string, string];
    const added = await fetch(`${new URL(url).origin}${PDNC}?actionType=add&phoneList=5039367187`, { headers: { loginId: adminKey } });
    expect(added.status).toBe(200);
    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    await rm(join(dir, 'keys.json'));
    const second = startServer();
    expect(await second.exited).toBe(1);
    expect(second.stderr).toContain('keys.json is missing, but');
    expect(second.stderr).toContain('idnc keys create --org default --scopes admin,operator');
    expect(second.stdout).not.toContain('idnc_');
    expect(existsSync(join(dir, 'keys.json'))).toBe(false);
    await keys('create', '--org', 'default', '--scopes', 'admin');
    const third = startServer();
    await printed(() => third.stderr, /Server listening/);
    expect(third.stdout).not.toContain('idnc_');
    third.child.kill('SIGTERM');
    expect(await third.exited).toBe(0);
  });


  it('prints the first key with a working curl line; keys commands work beside it; SIGTERM exits 0', async () => {
    const server = startServer();
    const curl = await printed(() => server.stdout, /curl -H 'loginId: (idnc_\S+)' '(http:\/\/\S+)'/);
    const [, adminKey, url] = curl as unknown as [string, string, string];
    expect(server.stdout).toContain('shown only this once');
    const base = new URL(url).origin;

    const count = await fetch(url, { headers: { loginId: adminKey } });
    expect(count.status).toBe(200);
    expect(await count.text()).toBe('0');
    const add = await fetch(`${base}${PDNC}?actionType=add&phoneList=5039367187,2125551234`, { headers: { loginId: adminKey } });
    expect(add.headers.get('idnc-changed')).toBe('2');
    // A plain status request: the built server's fast path (status-fast-path.ts) answers it.
    const status = await fetch(`${base}${PDNC}?actionType=status&phoneList=5039367187,7075276405`, { headers: { loginId: adminKey } });
    expect(status.status).toBe(200);
    expect(status.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(status.headers.get('x-request-id')).toMatch(/^[0-9a-f]{8}-[0-9a-z]+$/);
    expect(await status.json()).toEqual([
      { phone: '5039367187', onList: true, list: 'master' },
      { phone: '7075276405', onList: false, list: null },
    ]);

    const created = await keys('create', '--org', 'acme', '--scopes', 'read', '--name', 'reporting');
    const newKey = created.stdout.trim();
    expect(created.stdout).toMatch(/^idnc_[0-9a-f]{12}_\S{43}\n$/);
    expect(created.stderr).toContain('acme');
    await answers(base, newKey, 200);
    expect(await statusOf(base, newKey, 'actionType=add&phoneList=5039367187')).toBe(403);

    const listed = await keys('list');
    expect(listed.stdout).toContain('reporting');
    expect(listed.stdout).toContain('acme');
    expect(listed.stdout).not.toContain(newKey);
    expect(listed.stdout).not.toContain(adminKey);
    expect(listed.stdout).not.toContain('sha256');
    const json = JSON.parse((await keys('list', '--json')).stdout) as Record<string, unknown>[];
    expect(json).toHaveLength(2);
    expect(json.every((r) => !('hash' in r))).toBe(true);

    await keys('revoke', 'reporting');
    await answers(base, newKey, 401);

    await expect(keys('create', '--org', 'acme', '--scopes', 'read,delete')).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringContaining('scope "delete"'),
      stdout: '',
    });
    await expect(keys('revoke', 'nobody')).rejects.toMatchObject({ code: 1 });

    server.child.kill('SIGTERM');
    expect(await server.exited).toBe(0);
    expect(server.stderr).toContain('closed cleanly');
    expect(server.stderr).toContain('"path":"/app/main/rpc/pdnc"');
    for (const secret of [adminKey, newKey, '5039367187', '2125551234']) expect(server.stderr).not.toContain(secret);
  }, 30_000);

  it('on a later start prints no key, and SIGINT lets an in-flight request finish', async () => {
    const first = startServer();
    const [, key] = (await printed(() => first.stdout, /loginId: (idnc_\S+)'/)) as unknown as [string, string];
    first.child.kill('SIGTERM');
    expect(await first.exited).toBe(0);

    const server = startServer();
    const port = Number((await printed(() => server.stderr, /Server listening at http:\/\/127\.0\.0\.1:(\d+)/))[1]);
    expect(server.stdout).toBe('');

    const body = 'actionType=add&projId=&phoneList=5039367187';
    const response = new Promise<{ status: number; changed: string | undefined }>((resolve, reject) => {
      const request = http.request(
        {
          host: '127.0.0.1',
          port,
          method: 'POST',
          path: PDNC,
          // 100-continue: the server's interim answer says it has the request in hand.
          headers: { loginId: key, 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body), expect: '100-continue' },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode!, changed: res.headers['idnc-changed'] as string | undefined }));
        },
      );
      request.on('error', reject);
      request.on('continue', () => {
        server.child.kill('SIGINT');
        printed(() => server.stderr, /SIGINT.*finishing in-flight requests/).then(() => request.end(body), reject);
      });
      request.flushHeaders();
    });
    expect(await response).toEqual({ status: 200, changed: '1' });
    expect(await server.exited).toBe(0);
    expect(server.stderr).toContain('SIGINT');
  }, 30_000);

  it('a port in use is a clear error, exit 1, and the unshown first key is not kept', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = String((blocker.address() as net.AddressInfo).port);
    try {
      await expect(run(process.execPath, [cli, 'serve', '--port', port, '--data-dir', dir], { env: cleanEnv() })).rejects.toMatchObject({
        code: 1,
        stdout: '',
        stderr: expect.stringMatching(/EADDRINUSE|address already in use/),
      });
      expect(existsSync(join(dir, 'keys.json'))).toBe(false);
    } finally {
      blocker.close();
    }
  });

  it('refuses a bad flag with a clear message and exit code 1', async () => {
    await expect(run(process.execPath, [cli, 'serve', '--port', 'http', '--data-dir', dir], { env: cleanEnv() })).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringContaining('port "http"'),
    });
  });
});
