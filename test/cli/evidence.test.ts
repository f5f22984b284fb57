// `idnc evidence` and `idnc verify-evidence` as users run them: the built CLI in child processes on
// a data directory a library writer filled across snapshots (archived segments), the evidence file
// written owner-only and then checked with no data directory; a tampered file or another head exit 1,
// bad arguments and unreadable files exit 2.

import fs from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EVIDENCE_FILE_BYTES_MAX } from '../../src/constants.js';
import { openDnc } from '../../src/index.js';
import { CliSandbox } from './helpers.js';

const sandbox = new CliSandbox();
let dir: string;
let dataDir: string;
let head: { seq: number; hash: string };

beforeAll(async () => {
  dir = await sandbox.create('idnc-evidence-cli-');
  dataDir = join(dir, 'data');
  const dnc = await openDnc({ dataDir, segmentBytesMax: 600, logger: { info: () => undefined, warn: () => undefined, error: () => undefined } });
  await dnc.add('5039367187', { org: 'acme', source: 'ivr', reason: 'pressed 9' });
  for (let i = 0; i < 10; i++) await dnc.add(String(2125550000 + i), { org: 'acme' });
  await dnc.snapshot();
  await dnc.remove('5039367187', { org: 'acme', source: 'email' });
  head = await dnc.historyHead();
  await dnc.close();
});
afterAll(() => sandbox.dispose());

const idnc = (args: string[]) => sandbox.run(args);

describe('idnc evidence and verify-evidence', () => {
  it('write an owner-only file that verifies against the head without the data directory, and refuse a tampered one', async () => {
    const out = join(dir, 'evidence.json');
    const made = await idnc(['evidence', '5039367187', '--org', 'acme', '--out', out, '--head', `${head.hash}@${head.seq}`, '--data-dir', dataDir]);
    expect(made.stderr).toBe('');
    expect(made.code).toBe(0);
    expect(fs.statSync(out).mode & 0o777).toBe(0o600);
    const file = JSON.parse(fs.readFileSync(out, 'utf8'));
    expect(file).toMatchObject({ format: 'idnc-evidence/1', phone: '5039367187', org: 'acme', head: { seq: head.seq, hash: head.hash } });
    expect(file.events.map((event: { op: string; source: string }) => [event.op, event.source])).toEqual([['add', 'ivr'], ['remove', 'email']]);
    fs.renameSync(dataDir, join(dir, 'moved'));
    try {
      const checked = await idnc(['verify-evidence', out, '--head', `${head.hash}@${head.seq}`]);
      expect(checked).toMatchObject({ code: 0, stderr: '' });
      expect(checked.stdout).toContain('ok: 2 event(s) verified');
      file.events[0].source = 'web';
      fs.writeFileSync(join(dir, 'tampered.json'), JSON.stringify(file));
      const tampered = await idnc(['verify-evidence', join(dir, 'tampered.json'), '--head', `${head.hash}@${head.seq}`]);
      expect(tampered.code).toBe(1);
      expect(tampered.stderr).toContain(`event 1 (seq 1): source is "web" but the record says "ivr"`);
      const otherHead = await idnc(['verify-evidence', out, '--head', `${'0'.repeat(64)}@${head.seq}`]);
      expect(otherHead.code).toBe(1);
      expect(otherHead.stderr).toContain('not the given head');
    } finally {
      fs.renameSync(join(dir, 'moved'), dataDir);
    }
  });

  it('without --head proves against the current head, and a head the chain does not pass through exits 1', async () => {
    const out = join(dir, 'current.json');
    const made = await idnc(['evidence', '5039367187', '--org', 'acme', '--out', out, '--data-dir', dataDir]);
    expect(made.code).toBe(0);
    expect(JSON.parse(fs.readFileSync(out, 'utf8')).head).toMatchObject({ seq: head.seq, hash: head.hash });
    const wrong = await idnc(['evidence', '5039367187', '--org', 'acme', '--out', join(dir, 'wrong.json'), '--head', `${'1'.repeat(64)}@${head.seq}`, '--data-dir', dataDir]);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain('does not pass through the given head');
    expect(fs.existsSync(join(dir, 'wrong.json'))).toBe(false);
  });

  it('exit 2 on bad arguments and on a file that is not evidence', async () => {
    expect((await idnc(['evidence', '123', '--out', join(dir, 'x.json'), '--data-dir', dataDir])).code).toBe(2);
    expect((await idnc(['evidence', '5039367187', '--out', join(dir, 'x.json'), '--head', 'nope', '--data-dir', dataDir])).code).toBe(2);
    expect((await idnc(['verify-evidence', join(dir, 'missing.json'), '--head', `${head.hash}@${head.seq}`])).code).toBe(2);
    fs.writeFileSync(join(dir, 'other.json'), '{"format":"something-else"}');
    const other = await idnc(['verify-evidence', join(dir, 'other.json'), '--head', `${head.hash}@${head.seq}`]);
    expect(other.code).toBe(2);
    expect(other.stderr).toContain('not an idnc-evidence/1 file');
    expect((await idnc(['verify-evidence', join(dir, 'other.json'), '--head', 'abc'])).code).toBe(2);
    const huge = join(dir, 'huge.json');
    fs.writeFileSync(huge, '');
    fs.truncateSync(huge, EVIDENCE_FILE_BYTES_MAX + 1);
    const tooBig = await idnc(['verify-evidence', huge, '--head', `${head.hash}@${head.seq}`]);
    expect(tooBig.code).toBe(2);
    expect(tooBig.stderr).toContain(`more than the ${EVIDENCE_FILE_BYTES_MAX}`);
    fs.rmSync(huge);
  });
});
