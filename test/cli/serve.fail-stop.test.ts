// `idnc serve` (the built CLI) when its log writer fail-stops: a change that is durable but cannot
// be applied to memory is answered 503 STORED_NOT_APPLIED (stored, not rejected), the server logs
// one line saying the writer stopped and exits 1, and the next start replays the change rather than
// dropping it (here it meets the same bad snapshot again and refuses with DATA_CORRUPT).

import { afterAll, afterEach, beforeEach, expect, it } from 'vitest';
import { BAD_AREA_CODE, BAD_LIST, writeBadBitmapSnapshot } from '../persist/bad-bitmap-snapshot.js';
import { makeTempDir, removeDir } from '../persist/helpers.js';
import { createKey } from '../../src/keys/key-admin.js';
import { freePort, killAll, pdnc, startServer, waitUntilServing, type ServerProcess } from '../durability/server-process.js';

/** Only a server that never exits hits this. */
const EXIT_WAIT_MS = 20_000;

let dir: string;
beforeEach(async () => {
  dir = await makeTempDir('idnc-fail-stop-');
});
afterEach(async () => {
  await killAll();
  await removeDir(dir);
});
afterAll(killAll);

function exitCodeOf(server: ServerProcess): Promise<number | null | 'still running'> {
  return Promise.race([server.exited, new Promise<'still running'>((resolve) => setTimeout(() => resolve('still running'), EXIT_WAIT_MS).unref())]);
}

it('exits 1 with one clear line when a durable change cannot be applied, and the restart does not drop it', async () => {
  await writeBadBitmapSnapshot(dir);
  const { key } = await createKey(dir, { org: 'default', scopes: ['admin'] });
  const server = startServer(dir, await freePort());
  await waitUntilServing(server);
  expect((await pdnc(server.port, key, { actionType: 'add', phoneList: '4155550100' })).status).toBe(200);
  const failed = await pdnc(server.port, key, { actionType: 'add', phoneList: `${BAD_AREA_CODE}5550001`, projId: BAD_LIST.projId });
  expect(failed.status).toBe(503);
  expect(JSON.parse(failed.body)).toMatchObject({ code: 'STORED_NOT_APPLIED' });
  expect(await exitCodeOf(server)).toBe(1);
  const stopLines = server.stderr.split('\n').filter((line) => line.includes('the log writer stopped ('));
  expect(stopLines).toHaveLength(1);
  expect(JSON.parse(stopLines[0]!)).toMatchObject({ level: 60, msg: expect.stringMatching(/seq 3.*exiting with code 1/) });
  expect(server.stderr).not.toContain(`${BAD_AREA_CODE}5550001`);

  const restart = startServer(dir, await freePort());
  expect(await exitCodeOf(restart)).toBe(1);
  expect(restart.stderr).toMatch(/snapshot-0+1\.idncsnap.*replaying seq 3/);
});
