// idnc import / idnc export as users run them: the built CLI in child processes, offline on a data
// directory and online through a running built server.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { openDnc } from '../../src/index.js';
import { logRecords } from '../history/helpers.js';

const cli = new URL('../../dist/cli/main.js', import.meta.url).pathname;
let dir: string;
let dataDir: string;
const children: ChildProcess[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'idnc-import-'));
  dataDir = join(dir, 'data');
});
afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await rm(dir, { recursive: true, force: true });
});

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

function idnc(args: string[], stdin?: string, extraEnv: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    const env = { ...process.env, ...extraEnv };
    delete env.IDNC_DATA_DIR;
    if (extraEnv['IDNC_KEY'] === undefined) delete env.IDNC_KEY;
    const child = execFile(process.execPath, [cli, ...args], { cwd: dir, env, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : Number((error as { code?: number }).code ?? 1), stdout, stderr });
    });
    children.push(child);
    if (stdin !== undefined) child.stdin!.end(stdin);
    else child.stdin!.end();
  });
}

/** A shuffled, duplicated, human-formatted list of `count` valid numbers, and its sorted unique form. */
function sampleList(count: number): { text: string; expected: string[] } {
  const numbers: number[] = [];
  let seed = 5;
  for (let i = 0; i < count; i++) {
    seed = (seed * 48271) % 2147483647;
    numbers.push(2_002_000_000 + (seed % 7) * 1_000_000_000 + (seed % 900_000));
  }
  const formats = [(d: string) => d, (d: string) => `(${d.slice(0, 3)}) ${d.slice(3, 6)}-${d.slice(6)}`, (d: string) => `+1 ${d.slice(0, 3)} ${d.slice(3, 6)} ${d.slice(6)}`, (d: string) => `${d.slice(0, 3)}.${d.slice(3, 6)}.${d.slice(6)}`];
  const lines = numbers.map((number, i) => formats[i % formats.length]!(String(number)));
  lines.push(...lines.slice(0, 50));
  const expected = [...new Set(numbers)].sort((a, b) => a - b).map(String);
  return { text: `${lines.join('\n')}\n`, expected };
}

function exportedLines(stdout: string): string[] {
  return stdout.split('\n').filter((line) => line !== '');
}

describe('idnc import / export offline', () => {
  it('round trip: export equals the sorted unique valid input; summary counts', async () => {
    const { text, expected } = sampleList(20_000);
    await writeFile(join(dir, 'list.txt'), text);
    const imported = await idnc(['import', 'list.txt', '--data-dir', dataDir]);
    expect(imported.stderr).not.toContain('failed');
    expect(imported.code).toBe(0);
    expect(imported.stdout).toContain(`rows read:        20050`);
    expect(imported.stdout).toContain(`added:            ${expected.length}`);
    expect(imported.stdout).toContain(`duplicate rows:   ${20050 - expected.length}`);
    const again = await idnc(['import', 'list.txt', '--data-dir', dataDir]);
    expect(again.stdout).toContain(`already present:  ${expected.length}`);
    const exported = await idnc(['export', '--data-dir', dataDir]);
    expect(exported.code).toBe(0);
    expect(exportedLines(exported.stdout)).toEqual(expected);
    const csv = await idnc(['export', '--data-dir', dataDir, '--format', 'csv', '--out', 'out.csv']);
    expect(csv.code).toBe(0);
    const { readFile } = await import('node:fs/promises');
    expect(exportedLines(await readFile(join(dir, 'out.csv'), 'utf8'))).toEqual(['phone', ...expected]);
  }, 60_000);

  it('stores --source (default import) and --reason with the change, made by cli; a bad --source imports nothing', async () => {
    await writeFile(join(dir, 'list.txt'), '5039367187\n2125551234\n');
    const refused = await idnc(['import', 'list.txt', '--data-dir', dataDir, '--source', 'Mail Room']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('invalid source');
    expect((await idnc(['import', 'list.txt', '--data-dir', dataDir])).code).toBe(0);
    expect((await idnc(['import', 'list.txt', '--data-dir', dataDir, '--source', 'mail', '--reason', 'letter of 3 March'])).code).toBe(0);
    const fields = (await logRecords(dataDir)).map(({ keyId, source, reason }) => ({ keyId, source, reason }));
    expect(fields).toEqual([
      { keyId: 'cli', source: 'import', reason: undefined },
      { keyId: 'cli', source: 'mail', reason: 'letter of 3 March' },
    ]);
  }, 60_000);

  it('names its inputs in one history event per number: SHA-256 of the raw bytes, base names, size, count', async () => {
    const gz = gzipSync('5039367187\n2125551234\n');
    await writeFile(join(dir, 'a.txt.gz'), gz);
    const stdin = '9175550000\n5039367187\n';
    expect((await idnc(['import', join(dir, 'a.txt.gz'), '-', '--data-dir', dataDir], stdin)).code).toBe(0);
    const sha256 = createHash('sha256').update(gz).update(stdin).digest('hex');
    const expected = { sha256, name: 'a.txt.gz, stdin', bytes: gz.length + stdin.length, count: 3 };
    for (const phone of ['5039367187', '9175550000']) {
      const shown = await idnc(['history', phone, '--json', '--data-dir', dataDir]);
      expect(JSON.parse(shown.stdout).events).toEqual([expect.objectContaining({ op: 'add', keyId: 'cli', source: 'import', import: expected })]);
    }
    const text = await idnc(['history', '2125551234', '--data-dir', dataDir]);
    expect(text.stdout).toContain(`import of 3 numbers from "a.txt.gz, stdin" (${expected.bytes} bytes, sha256 ${sha256})`);
  }, 60_000);

  it('idnc history names the part of an input sent in several changes that a number came in', async () => {
    const dnc = await openDnc({ dataDir, logger: { info: () => undefined, warn: () => undefined, error: () => undefined } });
    const sha256 = 'ef'.repeat(32);
    await dnc.addNumbers(Float64Array.of(5039367187, 2125551234), { keyId: 'cli', source: 'import', import: { sha256, name: 'big.csv', bytes: 9000, count: 5, part: 2, parts: 3 } });
    await dnc.close();
    const text = await idnc(['history', '2125551234', '--data-dir', dataDir]);
    expect(text.stdout).toContain(`import of 5 numbers from "big.csv" (9000 bytes, sha256 ${sha256}, part 2 of 3)`);
  }, 60_000);

  it('is atomic by default: one invalid row and nothing is imported; --ignore-invalid imports the rest', async () => {
    await writeFile(join(dir, 'bad.txt'), '5039367187\n503-936-718\n2125551234\nphone: 3105550000\n');
    const refused = await idnc(['import', 'bad.txt', '--data-dir', dataDir]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('2 invalid rows: nothing was imported');
    expect(refused.stderr).toContain('bad.txt:2: "503-936-718": expected 10 digits, got 9');
    expect(refused.stderr).toContain('bad.txt:4:');
    expect(exportedLines((await idnc(['export', '--data-dir', dataDir])).stdout)).toEqual([]);
    const skipped = await idnc(['import', 'bad.txt', '--data-dir', dataDir, '--ignore-invalid']);
    expect(skipped.code).toBe(0);
    expect(skipped.stdout).toContain('invalid:          2');
    expect(exportedLines((await idnc(['export', '--data-dir', dataDir])).stdout)).toEqual(['2125551234', '5039367187']);
  }, 60_000);

  it('reads gzip, stdin and CSV columns by name into a project; --remove removes', async () => {
    await writeFile(join(dir, 'a.txt.gz'), gzipSync('5039367187\n2125551234\n'));
    await writeFile(join(dir, 'b.csv'), 'name,Phone\n"Doe, J",(310) 555-0000\n');
    const imported = await idnc(['import', 'a.txt.gz', '-', '--data-dir', dataDir, '--project', 'p1'], '9175550000\n');
    expect(imported.code).toBe(0);
    expect(imported.stdout).toContain('added:            3');
    const csv = await idnc(['import', 'b.csv', '--column', 'phone', '--data-dir', dataDir, '--project', 'p1']);
    expect(csv.code).toBe(0);
    const mixed = await idnc(['import', 'a.txt.gz', '--column', 'phone', '--data-dir', dataDir]);
    expect(mixed.code).toBe(1);
    expect(mixed.stderr).toContain('a column applies to CSV or TSV input only');
    expect(exportedLines((await idnc(['export', '--data-dir', dataDir, '--project', 'p1'])).stdout)).toEqual(['2125551234', '3105550000', '5039367187', '9175550000']);
    expect(exportedLines((await idnc(['export', '--data-dir', dataDir])).stdout)).toEqual([]);
    const removed = await idnc(['import', '-', '--remove', '--data-dir', dataDir, '--project', 'p1'], '5039367187\n4155552671\n');
    expect(removed.stdout).toContain('removed:          1');
    expect(removed.stdout).toContain('not on the list:  1');
    expect(exportedLines((await idnc(['export', '--data-dir', dataDir, '--project', 'p1'])).stdout)).toEqual(['2125551234', '3105550000', '9175550000']);
  }, 60_000);

  it('refuses a directory held by a writer, pointing to --url; export still works beside it', async () => {
    const writer = await openDnc({ dataDir, logger: { info: () => undefined, warn: () => undefined, error: () => undefined } });
    try {
      await writer.add('5039367187');
      await writeFile(join(dir, 'list.txt'), '2125551234\n');
      const refused = await idnc(['import', 'list.txt', '--data-dir', dataDir]);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/locked by another writer.*--url/);
      const exported = await idnc(['export', '--data-dir', dataDir]);
      expect(exported.code).toBe(0);
      expect(exportedLines(exported.stdout)).toEqual(['5039367187']);
    } finally {
      await writer.close();
    }
    await expect(writerCount(await openDnc({ dataDir, readOnly: true }))).resolves.toBe(1);
  }, 60_000);
});

async function writerCount(dnc: Awaited<ReturnType<typeof openDnc>>): Promise<number> {
  const count = dnc.count();
  await dnc.close();
  return count;
}

describe('idnc import --url', () => {
  it('never follows a redirect with the key', { timeout: 30_000 }, async () => {
    const seen: (string | undefined)[] = [];
    const elsewhere = http.createServer((request, response) => {
      seen.push(request.headers.loginid as string | undefined);
      response.end('{}');
    });
    const redirecting = http.createServer((_request, response) => {
      response.writeHead(307, { location: `http://127.0.0.1:${(elsewhere.address() as AddressInfo).port}/v1/import` });
      response.end();
    });
    await new Promise<void>((resolve) => elsewhere.listen(0, '127.0.0.1', resolve));
    await new Promise<void>((resolve) => redirecting.listen(0, '127.0.0.1', resolve));
    try {
      await writeFile(join(dir, 'list.txt'), '5039367187\n');
      const base = `http://127.0.0.1:${(redirecting.address() as AddressInfo).port}`;
      const run = await idnc(['import', 'list.txt', '--url', base], undefined, { IDNC_KEY: 'idnc_secret_never_forwarded' });
      expect(run.code).toBe(1);
      expect(run.stderr).toContain('answered a redirect (HTTP 307');
      expect(run.stderr).not.toContain('idnc_secret_never_forwarded');
      expect(seen).toEqual([]);
    } finally {
      redirecting.close();
      elsewhere.close();
    }
  });

  it('follows the writer a standby names in idnc-leader once, never in a loop, and never over plain http to another host', { timeout: 30_000 }, async () => {
    const seen: string[] = [];
    const servers: http.Server[] = [];
    const listen = async (name: string, leader: () => string): Promise<string> => {
      const server = http.createServer((request, response) => {
        seen.push(name);
        request.resume();
        response.writeHead(503, { 'content-type': 'application/json', 'idnc-leader': leader() });
        response.end(JSON.stringify({ code: 'NOT_LEADER', error: 'this writer stands by' }));
      });
      servers.push(server);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    };
    let bUrl = '';
    const aUrl = await listen('a', () => bUrl);
    bUrl = await listen('b', () => aUrl);
    const far = await listen('far', () => 'http://192.0.2.1:3000');
    try {
      await writeFile(join(dir, 'list.txt'), '5039367187\n');
      const loop = await idnc(['import', 'list.txt', '--url', aUrl], undefined, { IDNC_KEY: 'idnc_x' });
      expect(loop.code).toBe(1);
      expect(loop.stderr).toContain(`sending to the writer it names, ${bUrl}`);
      expect(loop.stderr).toContain('already sent on to the writer once');
      expect(seen).toEqual(['a', 'b']);
      const plain = await idnc(['import', 'list.txt', '--url', far], undefined, { IDNC_KEY: 'idnc_x' });
      expect(plain.code).toBe(1);
      expect(plain.stderr).toContain('names http://192.0.2.1:3000, over plain http to another host');
      expect(seen).toEqual(['a', 'b', 'far']);
    } finally {
      for (const server of servers) server.close();
    }
  });

  it('refuses plain http to another host unless --insecure, and a missing or doubled key', { timeout: 60_000 }, async () => {
    await writeFile(join(dir, 'list.txt'), '5039367187\n');
    const remote = await idnc(['import', 'list.txt', '--url', 'http://192.0.2.1:3000'], undefined, { IDNC_KEY: 'idnc_x' });
    expect(remote.code).toBe(1);
    expect(remote.stderr).toContain('plain http to another host');
    const noKey = await idnc(['import', 'list.txt', '--url', 'http://127.0.0.1:9']);
    expect(noKey.code).toBe(1);
    expect(noKey.stderr).toContain('set IDNC_KEY, or give --key-file FILE');
    const twice = await idnc(['import', 'list.txt', '--url', 'http://127.0.0.1:9', '--key', 'a', '--key-file', 'k']);
    expect(twice.stderr).toContain('give the key one way');
    const noFile = await idnc(['import', 'list.txt', '--url', 'http://127.0.0.1:9', '--key-file', 'missing.txt']);
    expect(noFile.stderr).toContain('--key-file missing.txt: cannot read it (ENOENT)');
    const offline = await idnc(['import', 'list.txt', '--key-file', 'k']);
    expect(offline.stderr).toContain('go with --url');
    for (const run of [remote, noKey, twice, noFile, offline]) expect(run.stderr).not.toContain('idnc_x');
  });

  it('imports through a running built server; re-running is safe; a refused batch says how to resume', async () => {
    const server = spawn(process.execPath, [cli, 'serve', '--port', '0', '--data-dir', dataDir], { cwd: dir });
    children.push(server);
    let stdout = '';
    server.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    const [, key, base] = await vi.waitFor(
      () => {
        const match = /curl -H 'loginId: (idnc_\S+)' '(http:\/\/[^/]+)/.exec(stdout);
        if (match === null) throw new Error(`the server printed no curl line:\n${stdout}`);
        return match;
      },
      { timeout: 15_000, interval: 25 },
    );
    const { text, expected } = sampleList(5000);
    await writeFile(join(dir, 'list.txt'), text);
    const imported = await idnc(['import', 'list.txt', '--url', base!, '--project', 'p2'], undefined, { IDNC_KEY: key! });
    expect(imported.stderr).not.toContain('refused');
    expect(imported.stderr).not.toContain('warning');
    expect(imported.code).toBe(0);
    expect(imported.stdout).toContain(`added:            ${expected.length}`);
    const history = await fetch(`${base}/v1/history?phone=${expected[0]}`, { headers: { loginId: key! } });
    // One batch: the event names the file as an offline import would (its bytes' hash and size), not the request's body.
    expect(((await history.json()) as { events: { import: unknown }[] }).events[0]!.import).toEqual({ sha256: createHash('sha256').update(text).digest('hex'), name: 'list.txt', bytes: Buffer.byteLength(text), count: expected.length });
    await writeFile(join(dir, 'key.txt'), `${key!}\n`, { mode: 0o600 });
    const again = await idnc(['import', 'list.txt', '--url', base!, '--key-file', 'key.txt', '--project', 'p2']);
    expect(again.stdout).toContain(`already present:  ${expected.length}`);
    const count = await fetch(`${base}/app/main/rpc/pdnc?actionType=count&projId=p2`, { headers: { loginId: key! } });
    expect(await count.text()).toBe(String(expected.length));
    const badKey = await idnc(['import', 'list.txt', '--url', base!, '--key', 'idnc_wrong']);
    expect(badKey.code).toBe(1);
    expect(badKey.stderr).toContain('--key shows the key to every user of this machine');
    expect(badKey.stderr).toContain('INVALID_API_KEY');
    expect(badKey.stderr).toContain('running the same command again resumes safely');
    server.kill('SIGTERM');
    expect(await new Promise((resolve) => server.on('exit', resolve))).toBe(0);
  }, 60_000);
});
