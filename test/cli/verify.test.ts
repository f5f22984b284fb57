// `idnc verify` and `idnc repair` through the BUILT CLI in a child process: a clean directory
// verifies, a corrupt one is reported with file and offset and refused by the server, repair
// without --yes changes nothing, with --yes it cuts at the first bad record (keeping the removed
// bytes) and the directory starts again with every record before the cut.

import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { LOG_RECORD_HEADER_BYTES, LOG_SEGMENT_HEADER_BYTES } from '../../src/constants.js';
import { openDnc } from '../../src/index.js';
import { makeTempDir, numbers, recordingLogger, removeDir } from '../persist/helpers.js';

const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
let dir: string;
beforeEach(async () => {
  dir = await makeTempDir();
});
afterEach(async () => {
  await removeDir(dir);
});

function idnc(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 20_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

async function writeFiveChanges(): Promise<string> {
  const dnc = await openDnc({ dataDir: dir, logger: recordingLogger() });
  for (let i = 0; i < 5; i++) await dnc.add(numbers(2, (201 + i) * 10_000_000 + 5_550_000));
  fs.rmSync(path.join(dir, 'writer.lock'));
  await dnc.close().catch(() => undefined);
  return fs.readdirSync(dir).find((name) => name.endsWith('.idnclog'))!;
}

it('verifies a clean directory, reports and repairs a corrupt one', async () => {
  const segmentName = await writeFiveChanges();
  for (const name of fs.readdirSync(dir)) if (name.endsWith('.idncsnap')) fs.rmSync(path.join(dir, name));
  const clean = idnc('verify', '--data-dir', dir);
  expect(clean.status, clean.stderr).toBe(0);
  expect(clean.stdout).toMatch(/ok\s+log-0000000000000001\.idnclog: 5 records/);
  expect(clean.stdout).toContain('startable: yes, state up to seq 5');

  const segment = path.join(dir, segmentName);
  const bytes = fs.readFileSync(segment);
  const secondRecord = LOG_SEGMENT_HEADER_BYTES + LOG_RECORD_HEADER_BYTES + bytes.readUInt32LE(LOG_SEGMENT_HEADER_BYTES);
  bytes[secondRecord + LOG_RECORD_HEADER_BYTES + 3]! ^= 0x20;
  fs.writeFileSync(segment, bytes);

  const report = idnc('verify', '--data-dir', dir);
  expect(report.status).toBe(1);
  expect(report.stdout).toContain(`corrupt   ${segmentName}: at offset ${secondRecord}`);
  expect(report.stdout).toContain('startable: NO');
  expect(report.stdout).toContain('idnc repair --yes');
  const json = JSON.parse(idnc('verify', '--json', '--data-dir', dir).stdout) as { startable: boolean };
  expect(json.startable).toBe(false);
  await expect(openDnc({ dataDir: dir, logger: recordingLogger() })).rejects.toMatchObject({ code: 'DATA_CORRUPT' });

  const dryRun = idnc('repair', '--data-dir', dir);
  expect(dryRun.status).toBe(1);
  expect(dryRun.stdout).toContain(`cut ${segmentName} at offset ${secondRecord}, keeping records up to seq 1`);
  expect(fs.readFileSync(segment).equals(bytes)).toBe(true);

  const repaired = idnc('repair', '--yes', '--data-dir', dir);
  expect(repaired.status, repaired.stderr).toBe(0);
  expect(repaired.stdout).toContain('repaired: state up to seq 1');
  expect(fs.statSync(segment).size).toBe(secondRecord);
  const backup = fs.readdirSync(dir).find((name) => name.startsWith('repair-'))!;
  expect(fs.readFileSync(path.join(dir, backup, segmentName)).equals(bytes)).toBe(true);

  expect(idnc('verify', '--data-dir', dir).status).toBe(0);
  const dnc = await openDnc({ dataDir: dir, logger: recordingLogger() });
  expect(dnc.count()).toBe(2);
  expect((await dnc.add('6175550123')).seq).toBe(2);
  await dnc.close();
}, 30_000);

it('repair refuses to run beside a live writer', async () => {
  await writeFiveChanges();
  const dnc = await openDnc({ dataDir: dir, logger: recordingLogger() });
  const segment = path.join(dir, fs.readdirSync(dir).find((name) => name.endsWith('.idnclog'))!);
  fs.appendFileSync(segment, Buffer.alloc(7, 0xff));
  const result = idnc('repair', '--yes', '--data-dir', dir);
  expect(result.status).toBe(1);
  expect(result.stderr).toMatch(/locked by another writer: pid \d+/);
  await dnc.close();
}, 30_000);

it('idnc history head prints the chain head; verify --head proves it, and fails for a head not on the chain', async () => {
  await writeFiveChanges();
  const dnc = await openDnc({ dataDir: dir, logger: recordingLogger() });
  const head = await dnc.historyHead();
  await dnc.close();
  const printed = idnc('history', 'head', '--data-dir', dir);
  expect(printed.status).toBe(0);
  expect(JSON.parse(printed.stdout)).toEqual(head);
  const proven = idnc('verify', '--data-dir', dir, '--head', `${head.hash}@${head.seq}`);
  expect(proven.status).toBe(0);
  expect(proven.stdout).toContain(`hash chain: ok (from seq 1 to seq ${head.seq}`);
  expect(proven.stdout).toContain(`passes through the saved head ${head.hash}@${head.seq}`);
  expect(idnc('verify', '--data-dir', dir, '--head', 'nonsense').status).toBe(2);
  const other = idnc('verify', '--data-dir', dir, '--head', `${'0'.repeat(64)}@${head.seq}`);
  expect(other.status).toBe(1);
  expect(other.stdout).toContain('hash chain: BROKEN');
  expect(idnc('history', 'heads', '--data-dir', dir).status).toBe(2);
});

it('idnc history names the key of each change from keys.json, and still answers without it', async () => {
  expect(idnc('keys', 'create', '--org', 'default', '--name', 'ivr-line-1', '--data-dir', dir).status).toBe(0);
  const keys = JSON.parse(fs.readFileSync(path.join(dir, 'keys.json'), 'utf8')) as { keys: { id: string }[] };
  const keyId = keys.keys[0]!.id;
  const dnc = await openDnc({ dataDir: dir, logger: recordingLogger() });
  await dnc.add('5039367187', { keyId });
  await dnc.remove('5039367187');
  await dnc.close();
  const json = JSON.parse(idnc('history', '5039367187', '--json', '--data-dir', dir).stdout);
  expect(json.events.map((event: Record<string, unknown>) => [event['keyId'], event['keyName']])).toEqual([[keyId, 'ivr-line-1'], ['library', undefined]]);
  expect(Object.keys(json.events[0])).toEqual(['seq', 'at', 'op', 'list', 'projId', 'keyId', 'keyName', 'source', 'reason', 'requestedAt', 'hash']);
  expect(idnc('history', '5039367187', '--data-dir', dir).stdout).toContain(`by ${keyId} (ivr-line-1) via api`);
  fs.writeFileSync(path.join(dir, 'keys.json'), '{ not json');
  const withoutKeys = idnc('history', '5039367187', '--json', '--data-dir', dir);
  expect(withoutKeys.status).toBe(0);
  expect(JSON.parse(withoutKeys.stdout).events[0].keyName).toBeUndefined();
});

it('idnc history PHONE and idnc status-at read the history offline; bad arguments exit 2', async () => {
  const dnc = await openDnc({ dataDir: dir, logger: recordingLogger() });
  await dnc.add('5039367187', { source: 'ivr', reason: 'pressed 9' });
  await dnc.remove('5039367187', { org: 'acme' });
  const expected = await dnc.history('5039367187');
  const at = expected.events[0]!.at;
  await dnc.close();
  const json = idnc('history', '5039367187', '--json', '--data-dir', dir);
  expect(json.status).toBe(0);
  expect(JSON.parse(json.stdout)).toEqual(expected);
  const text = idnc('history', '5039367187', '--data-dir', dir);
  expect(text.stdout).toContain(`seq 1  ${at}  add    master  by library via ivr`);
  const acme = JSON.parse(idnc('history', '5039367187', '--json', '--org', 'acme', '--data-dir', dir).stdout);
  expect(acme.events.map((event: { seq: number; op: string }) => [event.seq, event.op])).toEqual([[2, 'remove']]);
  const status = idnc('status-at', '5039367187', '--at', at, '--json', '--data-dir', dir);
  // seq: the last change stored at or before `at`; the second one may share its millisecond.
  expect(JSON.parse(status.stdout)).toEqual({ phone: '5039367187', at, onList: true, list: 'master', since: at, seq: expect.any(Number) });
  expect(JSON.parse(status.stdout).seq).toBeGreaterThanOrEqual(1);
  expect(idnc('status-at', '5039367187', '--at', 'noon', '--data-dir', dir).status).toBe(2);
  expect(idnc('history', '12', '--data-dir', dir).status).toBe(2);
});
