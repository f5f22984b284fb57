// The durable-seq mark: one small file in the data directory saying up to which seq the writer has
// acknowledged changes. It holds two copies of the same 40-byte layout (little-endian):
//   offset  0   8 bytes  DURABLE_MARK_MAGIC
//   offset  8   8 bytes  epoch: random, chosen each time a writer opens (or `idnc repair` runs)
//   offset 16   u64      base seq: the seq the writer recovered when it opened (its epoch's start)
//   offset 24   u64      seq: the last seq acknowledged (>= base seq)
//   offset 32   u32      fsync mode of the writer that wrote it: 1 always, 2 interval, 3 none
//                        (0: a writer older than this field; other values reserved)
//   offset 36   u32      CRC-32 of bytes [0, 36)
// The shown copy, at offset 0, is what followers read: they apply nothing above it, so it is
// written only once a batch is acknowledged, and a record on disk whose fdatasync has not returned
// (or failed) is never shown by any reader. The flushed copy, at DURABLE_MARK_FLUSHED_OFFSET, is
// what startup reads: under fsync 'always' it is written and flushed before the batch is
// acknowledged (and before the shown copy moves), so after a power loss it covers every
// acknowledged record and startup can tell a damaged acknowledged record (corruption, refused) from
// a torn unacknowledged one (cut). Under 'interval' and 'none' the file is flushed only at open and
// close, and the shown copy may reach the disk before the log records it covers: startup counts only
// copies written under 'always' (a copy of an older writer, mode 0: its flushed copy, or the only
// copy of a 40-byte file, as before). Each copy is one positional write within one sector; a reader that catches the shown copy
// half written sees a bad CRC and reads again. A new epoch tells followers the log may have been
// rewritten under them (a restart, a repair); the base seq says how much of it the new writer found
// intact. The file is never replaced, only rewritten, so its identity never changes.

import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import { DURABLE_MARK_BYTES, DURABLE_MARK_FLUSHED_OFFSET, DURABLE_MARK_MAGIC, DURABLE_MARK_READ_ATTEMPTS } from '../constants.js';
import { DURABLE_MARK_FILE } from './data-dir.js';
import type { PersistFileSystem } from './file-system.js';
import type { FsyncMode } from './log-writer.js';

export interface DurableMark {
  /** 16 hex digits, new at every writer open. */
  readonly epoch: string;
  readonly baseSeq: number;
  readonly seq: number;
  /** The fsync mode of the writer that wrote it; null: a writer older than the field (or a reserved value). */
  readonly fsync: FsyncMode | null;
}

/**
 * ok           the mark as the writer last wrote it
 * missing      no mark: a directory whose writer is older than the mark (or never started)
 * unreadable   a mark that keeps failing its checks (not a write caught half done)
 */
export type MarkRead =
  | { readonly kind: 'ok'; readonly mark: DurableMark }
  | { readonly kind: 'missing' }
  | { readonly kind: 'unreadable'; readonly detail: string };

const CRC_OFFSET = DURABLE_MARK_BYTES - 4;
const FSYNC_OFFSET = 32;
/** The code of each fsync mode in the field that was reserved (zero) before it; 0 is no mode. */
const FSYNC_CODES: readonly (FsyncMode | null)[] = [null, 'always', 'interval', 'none'];

export function encodeMark(mark: DurableMark): Buffer {
  const bytes = Buffer.alloc(DURABLE_MARK_BYTES);
  bytes.write(DURABLE_MARK_MAGIC, 0, 'latin1');
  bytes.write(mark.epoch, 8, 'hex');
  bytes.writeBigUInt64LE(BigInt(mark.baseSeq), 16);
  bytes.writeBigUInt64LE(BigInt(mark.seq), 24);
  bytes.writeUInt32LE(mark.fsync === null ? 0 : FSYNC_CODES.indexOf(mark.fsync), FSYNC_OFFSET);
  bytes.writeUInt32LE(crc32(bytes.subarray(0, CRC_OFFSET)), CRC_OFFSET);
  return bytes;
}

/** The mark in `bytes`, or why they are not one. */
export function decodeMark(bytes: Buffer): DurableMark | string {
  if (bytes.length < DURABLE_MARK_BYTES) return `${bytes.length} bytes, expected ${DURABLE_MARK_BYTES}`;
  if (bytes.toString('latin1', 0, 8) !== DURABLE_MARK_MAGIC) return 'not an idnc durable-seq mark (or another version)';
  if (crc32(bytes.subarray(0, CRC_OFFSET)) !== bytes.readUInt32LE(CRC_OFFSET)) return 'fails its CRC-32 checksum';
  const baseSeq = Number(bytes.readBigUInt64LE(16));
  const seq = Number(bytes.readBigUInt64LE(24));
  if (!Number.isSafeInteger(seq) || seq < baseSeq) return `seq ${seq} is below its base seq ${baseSeq}`;
  return { epoch: bytes.toString('hex', 8, 16), baseSeq, seq, fsync: FSYNC_CODES[bytes.readUInt32LE(FSYNC_OFFSET)] ?? null };
}

export function durableMarkPath(dataDir: string): string {
  return path.join(dataDir, DURABLE_MARK_FILE);
}

/** Reads the mark, reading again when the writer was caught half way through rewriting it. */
export async function readDurableMark(dataDir: string): Promise<MarkRead> {
  let handle: fs.promises.FileHandle;
  try {
    handle = await fs.promises.open(durableMarkPath(dataDir), 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'missing' };
    throw error;
  }
  try {
    const bytes = Buffer.alloc(DURABLE_MARK_BYTES);
    let problem = '';
    for (let attempt = 0; attempt < DURABLE_MARK_READ_ATTEMPTS; attempt++) {
      const { bytesRead } = await handle.read(bytes, 0, DURABLE_MARK_BYTES, 0);
      const decoded = decodeMark(bytes.subarray(0, bytesRead));
      if (typeof decoded !== 'string') return { kind: 'ok', mark: decoded };
      problem = decoded;
    }
    return { kind: 'unreadable', detail: `${DURABLE_MARK_FILE} ${problem}` };
  } finally {
    await handle.close();
  }
}

/**
 * What startup may take as acknowledged: the higher seq of the two copies that pass their checks
 * and were written after the log records they cover were flushed, or null when neither was. Only a
 * writer under 'always' writes every copy so; an older writer (no mode) flushed the log before its
 * flushed copy, and a 40-byte file (written before the flushed copy existed) has only the shown one.
 */
export async function readAcknowledgedSeq(dataDir: string): Promise<number | null> {
  let bytes: Buffer;
  try {
    bytes = await fs.promises.readFile(durableMarkPath(dataDir));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  const onlyShown = bytes.length < DURABLE_MARK_FLUSHED_OFFSET + DURABLE_MARK_BYTES;
  let seq: number | null = null;
  for (const offset of [0, DURABLE_MARK_FLUSHED_OFFSET]) {
    const decoded = decodeMark(bytes.subarray(offset, offset + DURABLE_MARK_BYTES));
    if (typeof decoded === 'string') continue;
    const covered = decoded.fsync === 'always' || (decoded.fsync === null && (offset === DURABLE_MARK_FLUSHED_OFFSET || onlyShown));
    if (covered) seq = Math.max(seq ?? 0, decoded.seq);
  }
  return seq;
}

/** The writer's side: a new epoch at open, the acknowledged seq after each batch, a flush at close. */
export class DurableMarkWriter {
  private constructor(
    private readonly fileSystem: PersistFileSystem,
    private readonly fd: number,
    private readonly epoch: string,
    private readonly baseSeq: number,
    private readonly fsync: FsyncMode,
  ) {}

  /**
   * Starts a new epoch at `seq` (what recovery found) and flushes it before any change is accepted.
   * `fsync`: the writer's mode, recorded in the mark; 'none' claims nothing (`idnc repair` flushes
   * no log it keeps, and a test's mark), so startup does not count the mark as acknowledged.
   */
  static async open(fileSystem: PersistFileSystem, dataDir: string, seq: number, fsync: FsyncMode = 'none'): Promise<DurableMarkWriter> {
    const file = durableMarkPath(dataDir);
    let created = false;
    let fd: number;
    try {
      fd = await fileSystem.open(file, 'r+');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      fd = await fileSystem.open(file, 'wx');
      created = true;
    }
    const writer = new DurableMarkWriter(fileSystem, fd, randomBytes(8).toString('hex'), seq, fsync);
    try {
      await writer.writeBoth(seq);
      await fileSystem.fsync(fd);
      if (created) await fileSystem.fsyncDirectory(dataDir);
    } catch (error) {
      await fileSystem.close(fd).catch(() => undefined);
      throw error;
    }
    return writer;
  }

  /** The highest seq written in this epoch: the mark never goes back within an epoch. */
  private highestSeq = 0;

  /** Shows `seq` to followers (not flushed: they read it from the page cache). */
  write(seq: number): Promise<void> {
    this.highestSeq = Math.max(this.highestSeq, seq);
    return this.fileSystem.writev(this.fd, [this.encode()], 0);
  }

  /**
   * Flushes `seq` in the flushed copy, then shows it: once this resolves, a power loss keeps a mark
   * of `seq` or above; if it rejects, followers were never shown `seq`.
   */
  async writeDurable(seq: number): Promise<void> {
    this.highestSeq = Math.max(this.highestSeq, seq);
    await this.fileSystem.writev(this.fd, [this.encode()], DURABLE_MARK_FLUSHED_OFFSET);
    await this.fileSystem.fdatasync(this.fd);
    await this.write(seq);
  }

  private writeBoth(seq: number): Promise<void> {
    this.highestSeq = Math.max(this.highestSeq, seq);
    const mark = this.encode();
    const gap = Buffer.alloc(DURABLE_MARK_FLUSHED_OFFSET - mark.length);
    return this.fileSystem.writev(this.fd, [mark, gap, mark], 0);
  }

  private encode(): Buffer {
    return encodeMark({ epoch: this.epoch, baseSeq: this.baseSeq, seq: this.highestSeq, fsync: this.fsync });
  }

  /**
   * Writes `seq` (or the higher seq already written: a batch marked before its apply failed stays
   * marked, and a restart replays it), flushes and closes; the file is closed even when the flush fails.
   */
  async close(seq: number): Promise<void> {
    try {
      await this.writeBoth(seq);
      await this.fileSystem.fsync(this.fd);
    } finally {
      await this.fileSystem.close(this.fd).catch(() => undefined);
    }
  }
}
