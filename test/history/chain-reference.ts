// A reference implementation of the hash chain, written straight from the definitions of
// docs/history.md (recursive RFC 6962 Merkle roots, no peaks, no walking), and the segment files of
// a data directory as they are on disk, for tests to recompute heads independently.

import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { LOG_RECORD_HEADER_BYTES, LOG_SEGMENT_HEADER_BYTES } from '../../src/constants.js';

const sha = (...parts: Uint8Array[]): Buffer => {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part);
  return hash.digest();
};

function merkleRoot(leaves: readonly Buffer[]): Buffer {
  if (leaves.length === 1) return leaves[0]!;
  let split = 1;
  while (split * 2 < leaves.length) split *= 2;
  return sha(Uint8Array.of(1), merkleRoot(leaves.slice(0, split)), merkleRoot(leaves.slice(split)));
}

/** h of the last record of `segments` (each a list of record frames), from genesis. */
export function referenceHead(segments: readonly (readonly Buffer[])[]): string {
  let hash: Buffer = Buffer.alloc(32);
  let roots: Buffer = Buffer.alloc(32);
  for (const frames of segments) {
    if (frames.length === 0) continue;
    const digests = frames.map((frame) => sha(frame));
    digests.forEach((digest, i) => {
      hash = sha(i === 0 ? sha(hash, roots) : hash, digest);
    });
    roots = sha(roots, merkleRoot(digests));
  }
  return hash.toString('hex');
}

/** The record frames of a segment file's bytes. */
export function framesOf(bytes: Buffer): Buffer[] {
  const frames: Buffer[] = [];
  for (let at = LOG_SEGMENT_HEADER_BYTES; at + LOG_RECORD_HEADER_BYTES <= bytes.length;) {
    const end = at + LOG_RECORD_HEADER_BYTES + bytes.readUInt32LE(at);
    if (end > bytes.length) break;
    frames.push(bytes.subarray(at, end));
    at = end;
  }
  return frames;
}

/** Every segment file of `dataDir` by name, with its bytes. */
export async function segmentFiles(dataDir: string): Promise<Map<string, Buffer>> {
  const files = new Map<string, Buffer>();
  for (const name of (await fs.readdir(dataDir)).filter((file) => /^log-\d{16}\.idnclog$/.test(file)).sort()) {
    files.set(name, await fs.readFile(path.join(dataDir, name)));
  }
  return files;
}
