import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readInputs } from '../../src/bulk/read-inputs.js';

let dir: string;
beforeEach(async () => {
  dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'idnc-read-inputs-'));
});
afterEach(async () => {
  await fs.promises.rm(dir, { recursive: true, force: true });
});

describe('readInputs (files parsed chunk by chunk into one sorted, distinct array)', () => {
  it('merges several files and formats, across read chunks, keeping line numbers per file', async () => {
    // 200,000 lines (2.2 MB: several 1 MB read chunks), descending with every tenth number repeated.
    const lines: string[] = [];
    for (let i = 0; i < 200_000; i++) lines.push(String(9_999_999_999 - (i - (i % 10 === 5 ? 1 : 0)) * 37));
    lines[150_000] = '503-936-71x7';
    const big = path.join(dir, 'big.txt');
    fs.writeFileSync(big, `${lines.join('\n')}\n`);
    const csv = path.join(dir, 'second.csv.gz');
    fs.writeFileSync(csv, gzipSync('phone,name\n(503) 936-7187,A\n5039367187,B\n123,C\n'));

    const result = await readInputs([big, csv]);

    const valid = lines.filter((line) => /^\d{10}$/.test(line)).map(Number);
    const expected = Array.from(new Set([...valid, 5039367187])).sort((a, b) => a - b);
    expect(Array.from(result.numbers)).toEqual(expected);
    expect(result.entries).toBe(200_000 + 3);
    expect(result.invalidCount).toBe(2);
    expect(result.invalid.map(({ file, line, entry }) => ({ file, line, entry }))).toEqual([
      { file: big, line: 150_001, entry: '503-936-71x7' },
      { file: csv, line: 4, entry: '123' },
    ]);
  });

  it('stops at a refused header with a read still in flight, and counts a file it read whole', async () => {
    const csv = path.join(dir, 'wide.csv');
    fs.writeFileSync(csv, `name,phone\n${'Ann,5039367187\n'.repeat(300_000)}`);
    await expect(readInputs([csv], { column: 'mobile' })).rejects.toThrow(/wide\.csv: column "mobile" is not in the header row/);
    const seen: number[] = [];
    const result = await readInputs([csv], { column: 'phone', onProgress: (progress) => seen.push(progress.bytesRead) });
    expect(Array.from(result.numbers)).toEqual([5039367187]);
    expect(result.entries).toBe(300_000);
    expect(result.bytesRead).toBe(fs.statSync(csv).size);
    expect(seen.at(-1)).toBe(fs.statSync(csv).size);
    expect(seen.length).toBeGreaterThan(3);
  });
});
