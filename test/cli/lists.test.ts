// `idnc lists` and `idnc lists drop` as users run them: the built CLI in child processes, offline
// on a data directory and beside a writer that holds it (as a running server does).

import { execFile, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDnc, type DurableDnc } from '../../src/index.js';

const cli = new URL('../../dist/cli/main.js', import.meta.url).pathname;
let dir: string;
let dataDir: string;
const children: ChildProcess[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'idnc-lists-'));
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

function idnc(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    const env = { ...process.env };
    delete env.IDNC_DATA_DIR;
    const child = execFile(process.execPath, [cli, ...args, '--data-dir', dataDir], { cwd: dir, env }, (error, stdout, stderr) => {
      resolve({ code: error === null ? 0 : Number((error as { code?: number }).code ?? 1), stdout, stderr });
    });
    children.push(child);
  });
}

async function seed(): Promise<DurableDnc> {
  const dnc = (await openDnc({ dataDir })) as DurableDnc;
  await dnc.add('5039367187', { org: 'acme' });
  await dnc.add('4155550100,4155550101', { org: 'acme', projId: 'spring' });
  await dnc.add('4155550102', { org: 'acme', projId: 'fall' });
  await dnc.add('3125550199', { projId: 'q' });
  return dnc;
}

describe('idnc lists', () => {
  it('prints every organisation\'s lists, or one organisation\'s, as text or JSON', async () => {
    await (await seed()).close();
    const all = await idnc(['lists']);
    expect(all.code).toBe(0);
    expect(all.stdout).toBe('acme\t(master)\t1\nacme\tfall\t1\nacme\tspring\t2\ndefault\tq\t1\n');
    expect(all.stderr).toContain('idnc lists: 4 lists');
    const json = await idnc(['lists', '--org', 'acme', '--json']);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual({
      lists: [
        { org: 'acme', projId: '', numbers: 1 },
        { org: 'acme', projId: 'fall', numbers: 1 },
        { org: 'acme', projId: 'spring', numbers: 2 },
      ],
    });
    expect(JSON.parse((await idnc(['lists', '--org', 'nobody', '--json'])).stdout)).toEqual({ lists: [] });
    const bad = await idnc(['lists', '--org', 'a/b']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('invalid organisation');
  }, 60_000);

  it('drop says what it would drop without --yes, drops with it, and refuses the master list and missing lists', async () => {
    await (await seed()).close();
    const plan = await idnc(['lists', 'drop', '--org', 'acme', '--project', 'spring']);
    expect(plan.code).toBe(1);
    expect(plan.stdout).toContain('would drop list "spring" of organisation "acme" (2 numbers)');
    expect((await idnc(['lists', '--org', 'acme'])).stdout).toContain('spring');
    const dropped = await idnc(['lists', 'drop', '--org', 'acme', '--project', 'spring', '--yes']);
    expect(dropped.code, dropped.stderr).toBe(0);
    expect(dropped.stdout).toContain('dropped list "spring" of organisation "acme": 2 numbers, seq 5');
    expect((await idnc(['lists', '--org', 'acme'])).stdout).toBe('acme\t(master)\t1\nacme\tfall\t1\n');
    const again = await idnc(['lists', 'drop', '--org', 'acme', '--project', 'spring', '--yes']);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('organisation "acme" has no list "spring"');
    for (const args of [['--org', 'acme'], ['--project', 'fall'], ['--org', 'acme', '--project', '']]) {
      const refused = await idnc(['lists', 'drop', ...args, '--yes']);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/give --(org|project)/);
    }
    const reopened = (await openDnc({ dataDir })) as DurableDnc;
    expect(reopened.count({ org: 'acme', projId: 'spring' })).toBe(0);
    expect(reopened.count({ org: 'acme', projId: 'fall' })).toBe(1);
    await reopened.close();
  }, 60_000);

  it('beside a running writer: lists reads the state on disk, drop is refused with DATA_DIR_LOCKED and points to the HTTP route', async () => {
    const writer = await seed();
    try {
      await writer.dropList({ org: 'acme', projId: 'fall' });
      const listed = await idnc(['lists', '--org', 'acme']);
      expect(listed.code).toBe(0);
      expect(listed.stdout).toBe('acme\t(master)\t1\nacme\tspring\t2\n');
      const refused = await idnc(['lists', 'drop', '--org', 'acme', '--project', 'spring', '--yes']);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain('DELETE /v1/lists/spring');
      expect(refused.stderr).toMatch(/writer|lock/i);
      expect(writer.count({ org: 'acme', projId: 'spring' })).toBe(2);
    } finally {
      await writer.close();
    }
  }, 60_000);
});
