// Phone numbers are personal data: every file idnc writes is owner-only and a data directory it
// creates is 0700, whatever the umask allows; `idnc verify` names what others can read.

import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, expect, it, vi } from 'vitest';
import { DurableDnc, openDnc } from '../../src/index.js';
import { makeTempDir, numbers, removeDir } from './helpers.js';

const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
let parent: string;
let previousUmask: number;

beforeEach(async () => {
  parent = await makeTempDir();
  previousUmask = process.umask(0o022);
});

afterEach(async () => {
  process.umask(previousUmask);
  await removeDir(parent);
});

function idnc(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 20_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

const modeOf = (file: string): number => fs.statSync(file).mode & 0o777;

it('creates the data directory 0700 and every file in it 0600 under a permissive umask', async () => {
  const dataDir = path.join(parent, 'data');
  const dnc = await DurableDnc.open({ dataDir });
  await dnc.add(numbers(3));
  await dnc.snapshot();
  await dnc.add(numbers(2, 3_125_550_000));
  await dnc.close();
  expect(modeOf(dataDir)).toBe(0o700);
  const names = fs.readdirSync(dataDir);
  expect(names.some((name) => name.endsWith('.idnclog'))).toBe(true);
  expect(names.some((name) => name.endsWith('.idncsnap'))).toBe(true);
  // history/ (the segments a snapshot covered, kept for the compliance history) is a directory: 0700.
  for (const name of names) expect({ name, mode: modeOf(path.join(dataDir, name)) }).toEqual({ name, mode: name === 'history' ? 0o700 : 0o600 });
  for (const name of fs.readdirSync(path.join(dataDir, 'history'))) expect({ name, mode: modeOf(path.join(dataDir, 'history', name)) }).toEqual({ name, mode: 0o600 });
});

it('writes an export file 0600', { timeout: 30_000 }, async () => {
  const dataDir = path.join(parent, 'data');
  const dnc = await openDnc({ dataDir });
  await dnc.add(numbers(3));
  await dnc.close();
  const out = path.join(parent, 'list.csv');
  const exported = spawnSync(process.execPath, [CLI, 'export', '--data-dir', dataDir, '--out', out], { encoding: 'utf8', timeout: 20_000 });
  expect(exported.status, exported.stderr).toBe(0);
  expect(modeOf(out)).toBe(0o600);
});

it('has verify name the directory and files that others can read', { timeout: 60_000 }, async () => {
  const dataDir = path.join(parent, 'data');
  const dnc = await openDnc({ dataDir });
  await dnc.add(numbers(3));
  await dnc.close();
  const segment = fs.readdirSync(dataDir).find((name) => name.endsWith('.idnclog'))!;
  fs.chmodSync(path.join(dataDir, segment), 0o644);
  fs.chmodSync(dataDir, 0o755);
  const text = idnc('verify', '--data-dir', dataDir);
  expect(text.status).toBe(0);
  expect(text.stderr).toContain(`${path.join(dataDir, segment)} is open to other users (mode 0644)`);
  expect(text.stderr).toContain(`${dataDir} is open to other users (mode 0755)`);
  const json = JSON.parse(idnc('verify', '--json', '--data-dir', dataDir).stdout) as { readableByOthers: { path: string; mode: string }[] };
  expect(json.readableByOthers).toEqual([
    { path: dataDir, mode: '0755' },
    { path: path.join(dataDir, segment), mode: '0644' },
  ]);
  const link = path.join(parent, 'link-to-data');
  fs.symlinkSync(dataDir, link);
  expect(idnc('verify', '--data-dir', link).stderr).toContain(`${link} is open to other users (mode 0755)`);
  fs.chmodSync(path.join(dataDir, segment), 0o600);
  fs.chmodSync(dataDir, 0o700);
  expect(idnc('verify', '--data-dir', dataDir).stderr).not.toContain('open to other users');
});

it('creates the data directory 0700 through idnc keys create and idnc serve --workers too', { timeout: 60_000 }, async () => {
  const byKeys = path.join(parent, 'by-keys');
  const created = idnc('keys', 'create', '--org', 'acme', '--data-dir', byKeys);
  expect(created.status, created.stderr).toBe(0);
  expect(modeOf(byKeys)).toBe(0o700);
  const byCluster = path.join(parent, 'by-cluster');
  const server = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--workers', '2', '--data-dir', byCluster], { stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    await vi.waitFor(() => expect(fs.existsSync(path.join(byCluster, 'keys.json'))).toBe(true), { timeout: 15_000, interval: 25 });
    expect(modeOf(byCluster)).toBe(0o700);
  } finally {
    server.kill('SIGTERM');
    if (server.exitCode === null && server.signalCode === null) await once(server, 'exit');
  }
});
