// The hardening settings as users meet them: `idnc keys create --rate-limit` and
// `idnc keys set-rate-limit` on the built CLI (the running server applies the change), the serve
// flags and IDNC_* variables of the slow-client limits (validated, precedence flag > env >
// default), and `--metrics-port` serving /metrics without a key on 127.0.0.1.

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ConfigError, loadServeConfig } from '../../src/cli/config.js';
import { HTTP_CONNECTIONS_MAX, HTTP_HEADERS_TIMEOUT_MS, KEY_RATE_LIMIT_PER_SECOND_DEFAULT } from '../../src/constants.js';

const run = promisify(execFile);
const cli = new URL('../../dist/cli/main.js', import.meta.url).pathname;
const PDNC = '/app/main/rpc/pdnc';

let dir: string;
const children: ChildProcess[] = [];
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'idnc-hardening-'));
});
afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await rm(dir, { recursive: true, force: true });
});

function env(): NodeJS.ProcessEnv {
  const clean = { ...process.env };
  for (const name of Object.keys(clean)) if (name.startsWith('IDNC_')) delete clean[name];
  return clean;
}

const idnc = (...args: string[]) => run(process.execPath, [cli, ...args, '--data-dir', dir], { env: env() });

async function records(): Promise<{ id: string; name: string | null; rateLimit?: number }[]> {
  return (JSON.parse(await readFile(join(dir, 'keys.json'), 'utf8')) as { keys: { id: string; name: string | null; rateLimit?: number }[] }).keys;
}

/** Waits until the server has printed a line matching `pattern`; returns its first group. */
async function printed(output: () => string, pattern: RegExp): Promise<string> {
  return vi.waitFor(
    () => {
      const match = pattern.exec(output());
      if (match === null) throw new Error(`nothing printed matches ${pattern}:\n${output()}`);
      return match[1]!;
    },
    { timeout: 10_000, interval: 25 },
  );
}

describe('keys and rate limits (built CLI)', () => {
  it('create writes the default 1000/s or --rate-limit N; set-rate-limit changes it; bad values are refused', async () => {
    await idnc('keys', 'create', '--org', 'acme', '--name', 'plain');
    await idnc('keys', 'create', '--org', 'acme', '--name', 'fleet', '--rate-limit', '20000');
    expect((await records()).map((r) => r.rateLimit)).toEqual([KEY_RATE_LIMIT_PER_SECOND_DEFAULT, 20000]);
    const { stderr } = await idnc('keys', 'set-rate-limit', 'plain', '0');
    expect(stderr).toMatch(/no rate limit/);
    expect((await records())[0]!.rateLimit).toBe(0);
    const id = (await records())[1]!.id;
    await idnc('keys', 'set-rate-limit', id, '5');
    expect((await records())[1]!.rateLimit).toBe(5);
    const list = (await idnc('keys', 'list')).stdout;
    expect(list).toMatch(/RATE\/S/);
    expect(list).toMatch(/unlimited/);
    for (const bad of ['-1', '1.5', 'lots', '99999999999']) {
      const failed = await idnc('keys', 'set-rate-limit', 'plain', bad).catch((error: { code: number; stderr: string }) => error);
      expect((failed as { code: number }).code).toBe(1);
      expect((failed as { stderr: string }).stderr).toMatch(/invalid rate limit/);
    }
    const unknown = await idnc('keys', 'set-rate-limit', 'nobody', '5').catch((error: { code: number }) => error);
    expect((unknown as { code: number }).code).toBe(1);
    expect((await records())[0]!.rateLimit).toBe(0);
  }, 60_000);

  it('a running server applies a changed rate limit, and serves key-less metrics on --metrics-port', async () => {
    const key = (await idnc('keys', 'create', '--org', 'acme', '--scopes', 'read', '--name', 'dialer')).stdout.trim();
    const child = spawn(process.execPath, [cli, 'serve', '--port', '0', '--metrics-port', '0', '--data-dir', dir, '--max-connections', '64'], { env: env() });
    children.push(child);
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const port = await printed(() => stderr, /"msg":"Server listening at http:\/\/127\.0\.0\.1:(\d+)"/);
    const metricsPort = await printed(() => stderr, /metrics without a key on http:\/\/127\.0\.0\.1:(\d+)\/metrics/);
    const count = () => fetch(`http://127.0.0.1:${port}${PDNC}?actionType=count`, { headers: { loginId: key } });
    expect((await count()).status).toBe(200);
    await idnc('keys', 'set-rate-limit', 'dialer', '1');
    // The server re-reads keys.json when it changes; then one of two requests in a row is over 1/s.
    await vi.waitFor(async () => expect([(await count()).status, (await count()).status]).toContain(429), { timeout: 10_000, interval: 25 });
    const metrics = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
    expect(metrics.status).toBe(200);
    const text = await metrics.text();
    expect(text).toMatch(/idnc_http_requests_total\{route="\/app\/main\/rpc\/pdnc",method="GET",action="count",status_code="429"\} [1-9]/);
    expect(text).toContain('idnc_log_fsync_duration_seconds_count');
    expect((await fetch(`http://127.0.0.1:${port}/metrics`)).status).toBe(401);
    expect(stderr).not.toContain(key);
    child.kill('SIGTERM');
    expect(await new Promise((resolve) => child.on('exit', resolve))).toBe(0);
  }, 60_000);
});

describe('serve settings of the slow-client limits', () => {
  it('defaults, IDNC_* variables and flags (flag wins), with 0 = unlimited for the counts', () => {
    const defaults = loadServeConfig({}, {});
    expect(defaults.connections.headersTimeoutMs).toBe(HTTP_HEADERS_TIMEOUT_MS);
    expect(defaults.connections.connectionsMax).toBe(HTTP_CONNECTIONS_MAX);
    expect(defaults.metricsPort).toBeNull();
    expect(defaults.bodyBytesMax).toBeUndefined();
    const fromEnv = loadServeConfig({}, { IDNC_HEADERS_TIMEOUT: '5s', IDNC_MAX_CONNECTIONS: '100', IDNC_METRICS_PORT: '9100', IDNC_BODY_LIMIT: '4MiB' });
    expect(fromEnv.connections.headersTimeoutMs).toBe(5000);
    expect(fromEnv.connections.connectionsMax).toBe(100);
    expect(fromEnv.metricsPort).toBe(9100);
    expect(fromEnv.bodyBytesMax).toBe(4 * 1024 * 1024);
    const flags = loadServeConfig({ headersTimeout: '2s', maxConnections: '0', maxRequestsPerSocket: '0', keepAliveTimeout: '90s', requestTimeout: '2m' }, { IDNC_HEADERS_TIMEOUT: '5s' });
    expect(flags.connections).toMatchObject({ headersTimeoutMs: 2000, connectionsMax: 0, requestsPerSocketMax: 0, keepAliveTimeoutMs: 90_000, requestTimeoutMs: 120_000 });
  });

  it('refuses bad values with a message naming the setting', () => {
    const bad: [Record<string, string>, RegExp][] = [
      [{ headersTimeout: 'soon' }, /--headers-timeout/],
      [{ requestTimeout: '-5s' }, /--request-timeout/],
      [{ headersTimeout: '90s', requestTimeout: '60s' }, /must not be longer than --request-timeout/],
      [{ maxConnections: 'many' }, /--max-connections/],
      [{ bodyLimit: '4 parsecs' }, /--body-limit/],
      [{ metricsPort: '70000' }, /port/],
    ];
    for (const [flags, message] of bad) expect(() => loadServeConfig(flags, {})).toThrow(message);
    expect(() => loadServeConfig({}, { IDNC_MAX_REQUESTS_PER_SOCKET: 'x' })).toThrow(ConfigError);
  });
});
