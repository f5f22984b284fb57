// `idnc import --url` in process against a listening durable app: an input sent in several batches
// is several changes, and every one of their events names the whole input (the SHA-256 and size of
// the file's bytes, its distinct numbers) and which part it is; an input sent in one batch reads
// as an offline import of the same file.

import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readInputs } from '../../src/bulk/read-inputs.js';
import { importOnline } from '../../src/cli/import-online.js';
import { CLI_KEY_ID } from '../../src/history/change-meta.js';
import { openDnc } from '../../src/open.js';
import { makeDurableApp, type DurableTestApp } from '../history/helpers.js';
import { makeTempDir, removeDir } from '../persist/helpers.js';

const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
/** Seven distinct numbers in human formats, one of them twice. */
const LIST = '5039367187\n(212) 555-1234\n+1 310 555 0000\n415.555.0101\n5039367187\n617-555-0199\n7185550123\n9175550100\n';
const DISTINCT = ['2125551234', '3105550000', '4155550101', '5039367187', '6175550199', '7185550123', '9175550100'];

let dir: string;
let test: DurableTestApp;
let base: string;
let file: string;
beforeEach(async () => {
  dir = await makeTempDir('idnc-import-online-');
  test = await makeDurableApp(path.join(dir, 'data'));
  await test.app.listen({ host: '127.0.0.1', port: 0 });
  base = `http://127.0.0.1:${(test.app.server.address() as AddressInfo).port}`;
  file = path.join(dir, 'list.txt');
  await writeFile(file, LIST);
});
afterEach(async () => {
  await test.close();
  await removeDir(dir);
});

const target = (batchNumbersMax?: number) => ({ url: base, key: test.admin.key, projId: '', remove: false, name: 'list.txt', ...(batchNumbersMax === undefined ? {} : { batchNumbersMax }) });

describe('idnc import --url: the history of an input sent in batches', () => {
  it('every batch is a change whose event names the whole file (hash, size, distinct numbers) and its part', async () => {
    const input = await readInputs([file]);
    const summary = await importOnline(input, target(3));
    expect(summary).toMatchObject({ distinct: 7, changed: 7 });
    const bytes = await readFile(file);
    const whole = { sha256: createHash('sha256').update(bytes).digest('hex'), name: 'list.txt', bytes: bytes.length, count: 7, parts: 3 };
    const seqs = new Set<number>();
    for (const [index, phone] of DISTINCT.entries()) {
      const { events } = await test.dnc.history(phone);
      expect(events, phone).toHaveLength(1);
      expect(events[0]!.import, phone).toEqual({ ...whole, part: Math.floor(index / 3) + 1 });
      seqs.add(events[0]!.seq);
    }
    expect(seqs.size).toBe(3);
  });

  it('an input of one batch reads as the same file imported offline', async () => {
    const input = await readInputs([file]);
    await importOnline(input, target());
    const offline = await openDnc({ dataDir: path.join(dir, 'offline'), logger: quiet });
    try {
      // What `idnc import` stores offline (src/cli/import.ts).
      await offline.addNumbers(input.numbers.slice(), { keyId: CLI_KEY_ID, source: 'import', import: { sha256: input.sha256, name: input.name, bytes: input.bytesHashed } });
      for (const phone of DISTINCT) {
        const online = (await test.dnc.history(phone)).events[0]!.import;
        expect(online, phone).toEqual((await offline.history(phone)).events[0]!.import);
        expect(online).not.toHaveProperty('part');
      }
    } finally {
      await offline.close();
    }
  });
});
