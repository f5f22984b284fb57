// The checksum of a large snapshot in parts: crc32Combine joins two parts' CRC-32s into that of
// their concatenation, as zlib computes it; the worker checksums views of shared buffers in the
// order asked, once closed fails what it has not given, and is one for every save of the process
// until it fails.

import { crc32 } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ChecksumWorker, crc32Combine, leaseChecksumWorker } from '../../src/persist/snapshot-checksum.js';

describe('crc32Combine', () => {
  it('gives the CRC-32 of the concatenation, for any two parts', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.uint8Array({ maxLength: 300 }), (a, b) => {
        expect(crc32Combine(crc32(a), crc32(b), b.length)).toBe(crc32(Buffer.concat([a, b])));
      }),
      { numRuns: 300, seed: 7 },
    );
  });

  it('joins many parts, long ones included, in order', () => {
    const bytes = Buffer.alloc(3 * 1024 * 1024 + 5);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 2_654_435_761) >>> 24;
    const cuts = [0, 1, 17, 65_536, 65_537, 1_048_576, 3 * 1024 * 1024, bytes.length];
    let joined = 0;
    for (let c = 1; c < cuts.length; c++) {
      const part = bytes.subarray(cuts[c - 1], cuts[c]);
      joined = crc32Combine(joined, crc32(part), part.length);
    }
    expect(joined).toBe(crc32(bytes));
  });
});

describe('ChecksumWorker', () => {
  it('checksums views of a shared buffer in the order asked', async () => {
    const shared = new Uint8Array(new SharedArrayBuffer(256 * 1024));
    for (let i = 0; i < shared.length; i++) shared[i] = (i * 40_503) >>> 8;
    const worker = new ChecksumWorker();
    const release = worker.use();
    try {
      const views = Array.from({ length: 40 }, (_, k) => shared.subarray(k * 5000, k * 5000 + 1 + k * 131));
      const sums = await Promise.all(views.map((view) => worker.checksum(view)));
      expect(sums).toEqual(views.map((view) => crc32(view)));
    } finally {
      release();
      await worker.close();
    }
  });

  it('fails the checksums it has not given once closed, and every later one', async () => {
    const shared = new Uint8Array(new SharedArrayBuffer(8 * 1024 * 1024));
    const worker = new ChecksumWorker();
    const pending = Array.from({ length: 8 }, () => worker.checksum(shared));
    await worker.close();
    // The close came before any answer could be read (answers arrive through the event loop).
    for (const outcome of await Promise.allSettled(pending)) expect(outcome).toMatchObject({ status: 'rejected', reason: { message: expect.stringMatching(/closed/) } });
    await expect(worker.checksum(shared)).rejects.toThrow(/closed/);
  });

  it('is one worker for every save of the process, until it fails', async () => {
    const shared = new Uint8Array(new SharedArrayBuffer(1024)).fill(5);
    const first = leaseChecksumWorker();
    const second = leaseChecksumWorker();
    expect(second.worker).toBe(first.worker);
    expect(await second.worker.checksum(shared)).toBe(crc32(shared));
    first.release();
    second.release();
    await first.worker.close();
    const third = leaseChecksumWorker();
    try {
      expect(third.worker).not.toBe(first.worker);
      expect(await third.worker.checksum(shared)).toBe(crc32(shared));
    } finally {
      third.release();
    }
  });
});
