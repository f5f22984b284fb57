// The add events that outlive their segment (docs/history.md): the add of a number that is still on
// a list is never dropped, whatever its age. When an archived segment expires, the add records of
// numbers still listed (as of the newest state) are carried into `history/carried.idnccarry`, whole
// (their bytes, so their digests in the hash chain stay what they were), each with the numbers it is
// carried for (a record names others too, whose removes may have expired with it) and, for a split
// import, its input as the change's last record named it. A later remove or list drop, once its own
// segment expires, ends the carry of the adds before it. The file is not a cache: it is written like
// a snapshot (temp, fdatasync, rename, directory flush) before the segment is removed, and `through`
// says which segments it already holds, so a crash between the two neither loses nor doubles events.

import fs from 'node:fs';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import { pack, unpack } from 'msgpackr';
import { LOG_RECORD_HEADER_BYTES } from '../constants.js';
import { DataCorruptError } from '../errors.js';
import type { SegmentFile } from '../persist/data-dir.js';
import type { PersistFileSystem } from '../persist/file-system.js';
import { decodeDeltas, encodeDeltas } from '../persist/number-deltas.js';
import { decodeBody, frameChecksumMatches, type ImportMeta, type LogRecord } from '../persist/record.js';
import { forEachRecord } from './segment-records.js';
import { writeFileAtomically } from '../persist/atomic-file.js';

const CARRIED_FORMAT = 1;
export const CARRIED_FILE = 'carried.idnccarry';

/** Whether `number` is on the list `org`/`projId` ('' the master list) in the newest state. */
export type ListedNow = (org: string, projId: string, number: number) => boolean;

export interface CarriedEntry {
  /** The add record, decoded from `frame` (its bytes as the log held them). */
  readonly record: LogRecord;
  readonly frame: Buffer;
  /** The numbers of the record the add is carried for, ascending. */
  readonly numbers: Float64Array;
  /** A split import's input, from its change's last record (which may not be carried). */
  readonly import?: ImportMeta;
}

export interface Carried {
  /** The last seq of the expired segments the file holds the carried adds of (0: none). */
  readonly throughSeq: number;
  /** Ascending by seq. */
  readonly entries: readonly CarriedEntry[];
}

export const NOTHING_CARRIED: Carried = { throughSeq: 0, entries: [] };

export function carriedPath(dataDir: string, historyDirName: string): string {
  return path.join(dataDir, historyDirName, CARRIED_FILE);
}

/** The file read back and checked; NOTHING_CARRIED when there is none. A bad file is corruption: it cannot be rebuilt. */
export async function readCarried(file: string): Promise<Carried> {
  let bytes: Buffer;
  try {
    bytes = await fs.promises.readFile(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return NOTHING_CARRIED;
    throw error;
  }
  if (bytes.length < 4 || crc32(bytes.subarray(0, bytes.length - 4)) !== bytes.readUInt32LE(bytes.length - 4)) {
    throw new DataCorruptError(`${CARRIED_FILE} fails its CRC-32: the add events carried past the retention cannot be read (restore it from a backup)`);
  }
  const value = unpack(bytes.subarray(0, bytes.length - 4)) as { format?: unknown; throughSeq?: unknown; entries?: unknown };
  if (value.format !== CARRIED_FORMAT || !Number.isSafeInteger(value.throughSeq) || !Array.isArray(value.entries)) {
    throw new DataCorruptError(`${CARRIED_FILE} is not a carried-events file of this version`);
  }
  const entries = (value.entries as [number, Uint8Array, number, Uint8Array | null, ImportMeta | null][]).map(([seq, frameBytes, count, deltas, meta]) => {
    const frame = Buffer.from(frameBytes);
    if (!frameChecksumMatches(frame) || Number(frame.readBigUInt64LE(8)) !== seq) throw new DataCorruptError(`${CARRIED_FILE}: the record of seq ${seq} fails its CRC-32`);
    const record = decodeBody(seq, frame.subarray(LOG_RECORD_HEADER_BYTES));
    return { record, frame, numbers: deltas === null ? record.numbers : decodeDeltas(deltas, count), ...(meta === null ? {} : { import: meta }) };
  });
  return { throughSeq: value.throughSeq as number, entries };
}

/** Writes the file atomically and durably (temp file, fdatasync, rename, directory flush), owner-only. */
export async function writeCarried(fileSystem: PersistFileSystem, file: string, carried: Carried): Promise<void> {
  const body = pack({
    format: CARRIED_FORMAT,
    throughSeq: carried.throughSeq,
    // Carried for all its numbers (the common case: a whole import still listed), a record's numbers are not written twice.
    entries: carried.entries.map((entry) => {
      const all = entry.numbers.length === entry.record.numbers.length;
      return [entry.record.seq, entry.frame, entry.numbers.length, all ? null : encodeDeltas(entry.numbers), entry.import ?? null];
    }),
  });
  const footer = Buffer.alloc(4);
  footer.writeUInt32LE(crc32(body), 0);
  await writeFileAtomically(fileSystem, file, [body, footer]);
}

const listKey = (org: string, projId: string): string => `${org}\u0000${projId}`;

/**
 * `carried` with the adds of `segment` (expiring, after `carried.throughSeq`) added: only those of
 * numbers listed now, and none that a remove or a drop of the same list after it (in this segment)
 * ended; the entries already carried lose the numbers no longer listed and those this segment removed.
 */
export async function carryForward(carried: Carried, segment: SegmentFile, listed: ListedNow): Promise<Carried> {
  const entries: CarriedEntry[] = [...carried.entries];
  const removedAt = new Map<string, Map<number, number>>();
  const droppedAt = new Map<string, number>();
  let open: { index: number } | undefined;
  const read = await forEachRecord(segment, Number.MAX_SAFE_INTEGER, (record, frame) => {
    const key = listKey(record.org, record.projId);
    if (open !== undefined && record.more !== true) {
      if (record.import !== undefined) entries[open.index] = { ...entries[open.index]!, import: record.import };
      open = undefined;
    }
    if (record.op === 'drop') droppedAt.set(key, record.seq);
    else if (record.op === 'remove') {
      let removes = removedAt.get(key);
      if (removes === undefined) removedAt.set(key, (removes = new Map()));
      for (const number of record.numbers) removes.set(number, record.seq);
    } else {
      const numbers = record.numbers.filter((number) => listed(record.org, record.projId, number));
      if (numbers.length === 0) return;
      entries.push({ record, frame: Buffer.from(frame), numbers, ...(record.import === undefined ? {} : { import: record.import }) });
      if (record.more === true) open = { index: entries.length - 1 };
    }
  });
  const kept: CarriedEntry[] = [];
  for (const entry of entries) {
    const { org, projId, seq } = entry.record;
    const key = listKey(org, projId);
    if ((droppedAt.get(key) ?? 0) > seq) continue;
    const removes = removedAt.get(key);
    const numbers = entry.numbers.filter((number) => (removes?.get(number) ?? 0) < seq && listed(org, projId, number));
    if (numbers.length > 0) kept.push(numbers.length === entry.numbers.length ? entry : { ...entry, numbers });
  }
  return { throughSeq: Math.max(carried.throughSeq, read.lastSeq), entries: kept };
}
