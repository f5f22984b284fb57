// A bulk import is one history event per number it named, carrying its input's SHA-256, name, size
// and count, stored once per change (on its last record), even when the change spans several
// records; POST /v1/import hashes the request body as it streams in.

import { createHash } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LOG_RECORD_NUMBERS_MAX } from '../../src/constants.js';
import { openDnc } from '../../src/open.js';
import { makeTempDir, removeDir } from '../persist/helpers.js';
import { logRecords, makeDurableApp } from './helpers.js';

const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
const SHA = 'ab'.repeat(32);
/** The i-th number of the big import: valid exchanges (200-999) of area code 212. */
const nth = (i: number): number => 2_122_000_000 + Math.floor(i / 10_000) * 10_000 + (i % 10_000);
let dir: string;
beforeEach(async () => {
  dir = await makeTempDir('idnc-import-event-');
});
afterEach(async () => {
  await removeDir(dir);
});

describe('the history event of a bulk import', () => {
  it('names the input for each of its numbers, stored once on the last record of a split change, across a restart', { timeout: 120_000 }, async () => {
    const count = LOG_RECORD_NUMBERS_MAX + 1000;
    const numbers = new Float64Array(count);
    for (let i = 0; i < count; i++) numbers[i] = nth(i);
    let dnc = await openDnc({ dataDir: dir, logger: quiet });
    await dnc.add('5039367187');
    const result = await dnc.addNumbers(numbers, { keyId: 'cli', source: 'import', import: { sha256: SHA, name: 'registry.csv.gz', bytes: 123_456 } });
    await dnc.close();

    const records = await logRecords(dir);
    expect(records.map((record) => [record.more === true, record.import !== undefined])).toEqual([[false, false], [true, false], [false, true]]);
    expect(records[2]!.seq).toBe(result.seq);

    dnc = await openDnc({ dataDir: dir, logger: quiet });
    const expected = { sha256: SHA, name: 'registry.csv.gz', bytes: 123_456, count };
    // The first number is in the record marked `more`, the last in the one that names the input.
    for (const index of [0, 12_345, count - 1]) {
      const { events } = await dnc.history(nth(index));
      expect(events, `number ${index}`).toHaveLength(1);
      expect(events[0]).toMatchObject({ op: 'add', source: 'import', keyId: 'cli', import: expected });
    }
    const single = await dnc.history('5039367187');
    expect(single.events).toHaveLength(1);
    expect(single.events[0]!.import).toBeUndefined();
    await dnc.close();
  });

  it('refuses an import name with control characters or a bad SHA-256, and stores nothing', async () => {
    const dnc = await openDnc({ dataDir: dir, logger: quiet });
    const numbers = Float64Array.of(5039367187);
    await expect(dnc.addNumbers(numbers, { import: { sha256: SHA, name: 'a\nb', bytes: 1 } })).rejects.toMatchObject({ code: 'INVALID_HISTORY_FIELD' });
    await expect(dnc.addNumbers(numbers, { import: { sha256: 'AB'.repeat(32), name: 'a', bytes: 1 } })).rejects.toMatchObject({ code: 'INVALID_HISTORY_FIELD' });
    await expect(dnc.addNumbers(numbers, { import: { sha256: SHA, name: 'a', bytes: -1 } })).rejects.toMatchObject({ code: 'INVALID_HISTORY_FIELD' });
    expect(dnc.count()).toBe(0);
    await dnc.close();
    expect(await logRecords(dir)).toEqual([]);
  });

  it('over HTTP: POST /v1/import hashes the body; GET /v1/history shows the import for each number', async () => {
    const test = await makeDurableApp(dir);
    try {
      const body = '5039367187\n2125551234\n(310) 555-0000\n';
      const imported = await test.app.inject({ method: 'POST', url: '/v1/import?name=march.txt&source=mail', headers: { loginId: test.admin.key, 'content-type': 'text/plain' }, payload: body });
      expect(imported.statusCode).toBe(200);
      const expected = { sha256: createHash('sha256').update(body).digest('hex'), name: 'march.txt', bytes: Buffer.byteLength(body), count: 3 };
      for (const phone of ['5039367187', '3105550000']) {
        const reply = await test.app.inject({ method: 'GET', url: `/v1/history?phone=${phone}`, headers: { loginId: test.admin.key } });
        expect(reply.json().events).toEqual([expect.objectContaining({ op: 'add', source: 'mail', import: expected })]);
      }
      const unnamed = await test.app.inject({ method: 'POST', url: '/v1/import?remove=1&name=', headers: { loginId: test.admin.key }, payload: '2125551234' });
      expect(unnamed.statusCode).toBe(200);
      const removed = await test.app.inject({ method: 'GET', url: '/v1/history?phone=2125551234', headers: { loginId: test.admin.key } });
      expect(removed.json().events[1]).toMatchObject({ op: 'remove', import: { name: 'upload', bytes: 10, count: 1 } });
      const bad = await test.app.inject({ method: 'POST', url: '/v1/import?name=%07bell', headers: { loginId: test.admin.key }, payload: '9175550000' });
      expect(bad.statusCode).toBe(400);
      expect(bad.json().code).toBe('INVALID_HISTORY_FIELD');
    } finally {
      await test.close();
    }
  });

  it('over HTTP: a request that is part of a larger input names that input and its part; bad part parameters are refused and change nothing', async () => {
    const test = await makeDurableApp(dir);
    try {
      const post = (query: string, payload: string) => test.app.inject({ method: 'POST', url: `/v1/import?name=big.csv&${query}`, headers: { loginId: test.admin.key, 'content-type': 'text/plain' }, payload });
      const whole = `inputSha256=${'C'.repeat(64)}&inputBytes=5000&inputCount=3`;
      const refused = [
        [`inputSha256=${'c'.repeat(63)}&inputBytes=5000&inputCount=3&part=1&parts=2`, /inputSha256 must be 64 hex digits/],
        [`inputSha256=${'g'.repeat(64)}&inputBytes=5000&inputCount=3&part=1&parts=2`, /inputSha256 must be 64 hex digits/],
        [`inputSha256=${'c'.repeat(64)}&inputBytes=-1&inputCount=3&part=1&parts=2`, /inputBytes must be a whole number/],
        [`${whole}&part=1.5&parts=2`, /part must be a whole number/],
        [`${whole}&part=3&parts=2`, /import.part must be from 1 to import.parts \(2\)/],
        [`${whole}&part=0&parts=2`, /import.part must be from 1/],
        [`${whole}&part=1&parts=4`, /import.parts must be from 1 to import.count \(3\)/],
        [`inputSha256=${'c'.repeat(64)}&inputBytes=5000&inputCount=0&part=1&parts=1`, /import.count must be/],
        [`${whole}&part=1`, /go together: parts missing/],
        [`${whole}&part=1&parts=1`, /input of 3 numbers sent whole, but the change holds 2/],
        [`inputSha256=${'c'.repeat(64)}&inputBytes=5000&inputCount=1&part=1&parts=1&parts=1`, /parts is given more than once/],
      ] as const;
      for (const [query, message] of refused) {
        const reply = await post(query, '5039367187\n2125551234\n');
        expect(reply.statusCode, query).toBe(400);
        expect(reply.json().code, query).toMatch(/^INVALID_(HISTORY_FIELD|PARAMETER)$/);
        expect(reply.json().error, query).toMatch(message);
      }
      // More numbers than the input it is part of: refused once the body is read, before anything is written.
      const tooMany = await post(`inputSha256=${'c'.repeat(64)}&inputBytes=5000&inputCount=2&part=1&parts=2`, '5039367187\n2125551234\n3105550000\n');
      expect(tooMany.statusCode).toBe(400);
      expect(tooMany.json().error).toMatch(/holds 3 numbers, more than the 2 of the input/);
      expect(test.dnc.count()).toBe(0);
      expect(await logRecords(dir)).toEqual([]);

      const first = await post(`${whole}&part=1&parts=2`, '5039367187\n2125551234\n');
      const second = await post(`${whole}&part=2&parts=2`, '3105550000\n');
      expect([first.statusCode, second.statusCode]).toEqual([200, 200]);
      const input = { sha256: 'c'.repeat(64), name: 'big.csv', bytes: 5000, count: 3, parts: 2 };
      expect((await test.dnc.history(5039367187)).events[0]!.import).toEqual({ ...input, part: 1 });
      expect((await test.dnc.history(3105550000)).events[0]!.import).toEqual({ ...input, part: 2 });
      // Sent whole (parts=1): the event reads as an import made in one change.
      await post(`${whole}&part=1&parts=1`, '9175550100\n6175550199\n7185550123\n');
      expect((await test.dnc.history(9175550100)).events[0]!.import).toEqual({ sha256: 'c'.repeat(64), name: 'big.csv', bytes: 5000, count: 3 });
    } finally {
      await test.close();
    }
  });

  it('through the library: import count, part and parts go together and fit the change', async () => {
    const dnc = await openDnc({ dataDir: dir, logger: quiet });
    const numbers = () => Float64Array.of(5039367187, 2125551234);
    const input = { sha256: SHA, name: 'a', bytes: 10 };
    await expect(dnc.addNumbers(numbers(), { import: { ...input, count: 2 } })).rejects.toMatchObject({ code: 'INVALID_HISTORY_FIELD' });
    await expect(dnc.addNumbers(numbers(), { import: { ...input, count: 1, part: 1, parts: 1 } })).rejects.toMatchObject({ code: 'INVALID_HISTORY_FIELD' });
    await expect(dnc.addNumbers(numbers(), { import: { ...input, count: 5, part: 2, parts: 1 } })).rejects.toMatchObject({ code: 'INVALID_HISTORY_FIELD' });
    expect(dnc.count()).toBe(0);
    await dnc.addNumbers(numbers(), { import: { ...input, count: 5, part: 2, parts: 3 } });
    await dnc.close();
    const records = await logRecords(dir);
    expect(records.map((record) => record.import)).toEqual([{ ...input, count: 5, part: 2, parts: 3 }]);
  });
});
