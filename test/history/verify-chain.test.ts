// Tamper evidence: bytes of records flipped, a record deleted, two records swapped, a record
// altered with its CRC-32 recomputed (what a deliberate edit does): the check of the hash chain
// names the record (or, for a recomputed CRC, the checkpoint it no longer reaches and the range of
// seqs that holds it), and a head saved earlier is proven, or found broken.

import { crc32 } from 'node:zlib';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LOG_RECORD_HEADER_BYTES, LOG_SEGMENT_HEADER_BYTES } from '../../src/constants.js';
import { openDnc } from '../../src/open.js';
import type { ChainHead } from '../../src/history/chain.js';
import { verifyChain } from '../../src/history/verify-chain.js';
import { makeTempDir, removeDir } from '../persist/helpers.js';

const quiet = { info: () => undefined, warn: () => undefined, error: () => undefined };
let dir: string;
beforeEach(async () => {
  dir = await makeTempDir('idnc-tamper-');
});
afterEach(async () => {
  await removeDir(dir);
});

/** Ten adds, a head saved after the sixth, then closed (its final snapshot is a checkpoint at seq 10). */
async function tenChanges(): Promise<{ saved: ChainHead; segment: string }> {
  const dnc = await openDnc({ dataDir: dir, logger: quiet });
  let saved: ChainHead | null = null;
  for (let i = 0; i < 10; i++) {
    await dnc.add(String(5039367100 + i), { reason: `call ${i}` });
    if (i === 5) saved = await dnc.historyHead();
  }
  await dnc.close();
  const segment = fs.readdirSync(dir).find((name) => name.endsWith('.idnclog'))!;
  return { saved: saved!, segment: path.join(dir, segment) };
}

/** File offsets of each record of a segment, by seq (the segment holds seqs 1, 2, ...). */
function recordOffsets(bytes: Buffer): number[] {
  const offsets = [0];
  for (let at = LOG_SEGMENT_HEADER_BYTES; at < bytes.length; at += LOG_RECORD_HEADER_BYTES + bytes.readUInt32LE(at)) offsets.push(at);
  return offsets;
}

function edit(file: string, change: (bytes: Buffer, offsets: number[]) => Buffer): void {
  const bytes = fs.readFileSync(file);
  fs.writeFileSync(file, change(bytes, recordOffsets(bytes)));
}

/** Changes a byte of the record's body (its reason's text) and recomputes its CRC, as a deliberate edit would. */
function alterWithValidCrc(bytes: Buffer, offset: number): Buffer {
  const out = Buffer.from(bytes);
  const end = offset + LOG_RECORD_HEADER_BYTES + out.readUInt32LE(offset);
  const at = out.indexOf('call', offset + LOG_RECORD_HEADER_BYTES) + 5;
  expect(at).toBeGreaterThan(offset);
  out[at] = out[at] === 0x39 ? 0x38 : out[at]! + 1;
  out.writeUInt32LE(crc32(out.subarray(offset + 8, end)), offset + 4);
  return out;
}

describe('verifyChain', () => {
  it('passes an untouched directory, through the snapshot checkpoint and the saved head', async () => {
    const { saved } = await tenChanges();
    const report = await verifyChain(dir, null, saved);
    expect(report).toMatchObject({ ok: true, fromSeq: 0, checkpoints: 1, problem: null, savedHead: 'match', head: { seq: 10 } });
  });

  it('names the record whose byte was flipped', async () => {
    const { segment } = await tenChanges();
    edit(segment, (bytes, offsets) => {
      bytes[offsets[4]! + LOG_RECORD_HEADER_BYTES + 3]! ^= 0x10;
      return bytes;
    });
    const report = await verifyChain(dir, null);
    expect(report.ok).toBe(false);
    expect(report.problem).toContain(`${path.basename(segment)} at offset`);
    expect(report.problem).toMatch(/seq 4: record fails its CRC-32 checksum/);
  });

  it('names the place of a deleted record', async () => {
    const { segment } = await tenChanges();
    edit(segment, (bytes, offsets) => Buffer.concat([bytes.subarray(0, offsets[7]!), bytes.subarray(offsets[8]!)]));
    expect((await verifyChain(dir, null)).problem).toMatch(/seq 7: record has seq 8, expected 7/);
  });

  it('names the place of two records that traded places', async () => {
    const { segment } = await tenChanges();
    edit(segment, (bytes, offsets) => Buffer.concat([bytes.subarray(0, offsets[2]!), bytes.subarray(offsets[3]!, offsets[4]!), bytes.subarray(offsets[2]!, offsets[3]!), bytes.subarray(offsets[4]!)]));
    expect((await verifyChain(dir, null)).problem).toMatch(/seq 2: record has seq 3, expected 2/);
  });

  it('finds a record altered with a recomputed CRC: the checkpoint is no longer reached, and the range holds it', async () => {
    const { segment, saved } = await tenChanges();
    edit(segment, (bytes, offsets) => alterWithValidCrc(bytes, offsets[8]!));
    const report = await verifyChain(dir, null, saved);
    expect(report.ok).toBe(false);
    expect(report.problem).toMatch(/differs from the one snapshot-0000000000000010\.idncsnap stored at seq 10: a record from seq 1 to 10/);
    expect(report.savedHead).toBe('match');
  });

  it('finds an altered record before a saved head, and says where it must be', async () => {
    const { segment, saved } = await tenChanges();
    for (const name of fs.readdirSync(dir)) if (name.endsWith('.idncsnap')) fs.rmSync(path.join(dir, name));
    edit(segment, (bytes, offsets) => alterWithValidCrc(bytes, offsets[3]!));
    const report = await verifyChain(dir, null, saved);
    expect(report).toMatchObject({ ok: false, savedHead: 'differs' });
    expect(report.problem).toBe('the chain does not pass through the saved head at seq 6: a record from seq 1 to 6 was changed, added or removed');
  });

  it('does not call a saved head proven when the records are not there, or it is not on the chain', async () => {
    const { saved } = await tenChanges();
    expect(await verifyChain(dir, null, { ...saved, seq: 99 })).toMatchObject({ ok: false, savedHead: 'unchecked', problem: null });
    expect(await verifyChain(dir, null, { ...saved, hash: 'f'.repeat(64) })).toMatchObject({ ok: false, savedHead: 'differs' });
  });
});
