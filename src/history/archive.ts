// Keeping the log for history (docs/history.md): the segments a snapshot covers, which the writer
// used to delete, are moved whole into `history/` (a rename, nothing copied), each with its summary
// beside it; once their UTC day is over they are merged into a pack (pack.ts: one file a day, each
// member's bytes verbatim, with an index), and removed whole once their last record is older than
// the retention. Renames and removals are made durable (both directories flushed) before they
// count, like every file idnc keeps; recovery, followers and repair read only the top directory, so
// history never slows them. Before an expired segment or pack goes, the add events of numbers still
// listed are carried forward (carry-forward.ts), and what verify needs to link the chain across it
// stays (its summary without its numbers; a pack's members' states in a `.idncgone` file).

import fs from 'node:fs';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import { pack as msgpack, unpack } from 'msgpackr';
import { DIRECTORY_MODE_OWNER_ONLY, HISTORY_PACK_BYTES_MAX, HISTORY_PACK_INDEX_READS_MAX, HISTORY_PACK_PASS_PACKS_MAX } from '../constants.js';
import type { SegmentFile } from '../persist/data-dir.js';
import type { PersistFileSystem } from '../persist/file-system.js';
import { RoaringBitmap32 } from '../store/roaring.js';
import { carriedPath, carryForward, readCarried, writeCarried, type Carried, type ListedNow } from './carry-forward.js';
import { decodeState, encodeState, type ChainState } from './chain.js';
import { walkChain } from './chain-walk.js';
import { packFirstSeq, readPackIndex, writePack, type PackIndex, type PackMember } from './pack.js';
import type { SegmentSpan } from './segment-records.js';
import { readSummary, summariseSegment, summaryPath, writeSummary, type SegmentSummary } from './segment-summary.js';
import { writeFileAtomically } from '../persist/atomic-file.js';

export const HISTORY_DIR = 'history';
const SEGMENT_PATTERN = /^log-(\d{16})\.idnclog$/;
const GONE_SUFFIX = '.idncgone';
const GONE_FORMAT = 1;
const DAY_MS = 86_400_000;

export function historyDir(dataDir: string): string {
  return path.join(dataDir, HISTORY_DIR);
}

/** An archived segment: a segment file in history/, or a member of a pack (a span of its file). */
export interface ArchivedSegment extends SegmentSpan {
  readonly pack?: PackIndex;
  readonly member?: PackMember;
}

/** What history/ holds: packs, the segment files not yet packed, and those a pack already holds (a crash before their removal). */
export interface HistoryListing {
  readonly packs: PackIndex[];
  readonly loose: SegmentFile[];
  readonly covered: SegmentFile[];
  /** Every name in the directory. */
  readonly names: readonly string[];
}

async function readNames(dir: string): Promise<string[]> {
  return fs.promises.readdir(dir).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [] as string[];
    throw error;
  });
}

/**
 * Pack indices by path (a pack never changes; a removed one is forgotten at the next listing), or
 * the read under way: a listing made while another is reading (a query arriving during the
 * warm-up that follows an open) waits for the same read instead of reading the file again.
 */
export type PackIndexCache = Map<string, PackIndex | Promise<PackIndex>>;

/**
 * The indices of the packs the writer's passes (sweep, packing) have read, without their number
 * tables, which only queries need: a pass every snapshot does not read two thousand indices again.
 */
const lightIndices: PackIndexCache = new Map();

/** The index without its number tables; its members still made only when asked for (a spread would make them: `members` is a getter). */
function lighten(index: PackIndex): PackIndex {
  const none = { keys: new Uint32Array(0), keyOffsets: new Uint32Array(0), rangeMin: new Float64Array(0), rangeMax: new Float64Array(0), rangeOffsets: new Uint32Array(0), rangeImports: [], rangeBlocks: [] };
  return Object.defineProperties({}, { ...Object.getOwnPropertyDescriptors(index), ...Object.getOwnPropertyDescriptors(none) }) as PackIndex;
}

/** The index of `file`, from `cache` or read (and kept there; a failed read is not kept, so the next listing tries again). */
function cachedIndex(file: string, cache: PackIndexCache | undefined, light: boolean): PackIndex | Promise<PackIndex> {
  const cached = cache?.get(file);
  if (cached !== undefined) return cached;
  const reading = readPackIndex(file).then((index) => {
    const kept = light ? lighten(index) : index;
    if (cache?.get(file) === reading) cache.set(file, kept);
    return kept;
  }, (error: unknown) => {
    if (cache?.get(file) === reading) cache.delete(file);
    throw error;
  });
  cache?.set(file, reading);
  return reading;
}

/**
 * The indices of `files`, HISTORY_PACK_INDEX_READS_MAX read at a time: one after another, the
 * first query of a process waited on five file calls per pack in turn, for every pack.
 */
async function readIndices(files: readonly string[], cache: PackIndexCache | undefined, light: boolean): Promise<PackIndex[]> {
  const indices: PackIndex[] = new Array<PackIndex>(files.length);
  let next = 0;
  const reader = async (): Promise<void> => {
    while (next < files.length) {
      const at = next++;
      indices[at] = await cachedIndex(files[at]!, cache, light);
    }
  };
  await Promise.all(Array.from({ length: Math.min(HISTORY_PACK_INDEX_READS_MAX, files.length) }, reader));
  return indices;
}

/**
 * history/ listed, each pack's index read from its file, or taken from `cache` (by path: packs never
 * change); `light`: kept in the cache without its number tables.
 */
export async function readHistoryListing(dataDir: string, cache?: PackIndexCache, light = false): Promise<HistoryListing> {
  const dir = historyDir(dataDir);
  const names = await readNames(dir);
  const packFiles: string[] = [];
  const files: SegmentFile[] = [];
  for (const name of names) {
    const match = SEGMENT_PATTERN.exec(name);
    if (match !== null) files.push({ firstSeq: Number(match[1]), path: path.join(dir, name) });
    else if (packFirstSeq(name) !== null) packFiles.push(path.join(dir, name));
  }
  const packs = await readIndices(packFiles, cache, light);
  const listed = new Set(packFiles);
  if (cache !== undefined) for (const file of cache.keys()) if (path.dirname(file) === dir && !listed.has(file)) cache.delete(file);
  packs.sort((a, b) => a.firstSeq - b.firstSeq);
  files.sort((a, b) => a.firstSeq - b.firstSeq);
  const held = (seq: number): boolean => packs.some((pack) => pack.firstSeq <= seq && seq <= pack.lastSeq);
  return { packs, loose: files.filter((file) => !held(file.firstSeq)), covered: files.filter((file) => held(file.firstSeq)), names };
}

/** A pack's members as segments (spans of its file). */
export function packMembers(pack: PackIndex): ArchivedSegment[] {
  const name = path.basename(pack.path);
  return pack.members.map((member) => ({ firstSeq: member.firstSeq, path: pack.path, offset: member.offset, bytes: member.bytes, label: `${HISTORY_DIR}/${name} (${member.name})`, pack, member }));
}

/** The archived segments, packed or not, ascending by first seq (none when there is no history directory). */
export async function listHistory(dataDir: string, listing?: HistoryListing): Promise<ArchivedSegment[]> {
  const { packs, loose } = listing ?? (await readHistoryListing(dataDir));
  return [...loose, ...packs.flatMap(packMembers)].sort((a, b) => a.firstSeq - b.firstSeq);
}

async function ensureHistoryDir(fileSystem: PersistFileSystem, dataDir: string): Promise<string> {
  const dir = historyDir(dataDir);
  const created = await fs.promises.mkdir(dir, { mode: DIRECTORY_MODE_OWNER_ONLY }).then(() => true, (error: NodeJS.ErrnoException) => {
    if (error.code === 'EEXIST') return false;
    throw error;
  });
  if (created) await fileSystem.fsyncDirectory(dataDir);
  return dir;
}

/**
 * Moves `segments` (covered by a snapshot, no longer needed by recovery) into history, each with
 * its summary and, when known, the chain state before its first record (`chainBefore`).
 */
export async function archiveSegments(
  fileSystem: PersistFileSystem,
  dataDir: string,
  segments: readonly SegmentFile[],
  chainBefore: (segment: SegmentFile) => ChainState | undefined,
): Promise<void> {
  if (segments.length === 0) return;
  const dir = await ensureHistoryDir(fileSystem, dataDir);
  const moved: { segment: SegmentFile; summary: SegmentSummary; chain: ChainState | undefined }[] = [];
  for (const segment of segments) {
    const summary = await summariseSegment(segment);
    const target = path.join(dir, path.basename(segment.path));
    await fileSystem.rename(segment.path, target);
    moved.push({ segment: { firstSeq: segment.firstSeq, path: target }, summary, chain: chainBefore(segment) });
  }
  await fileSystem.fsyncDirectory(dir);
  await fileSystem.fsyncDirectory(dataDir);
  for (const { segment, summary, chain } of moved) {
    await writeSummary(fileSystem, summaryPath(segment.path), summary, chain === undefined ? undefined : encodeState(chain));
  }
}

/**
 * The summary of an archived segment: its side file, or built again (and rewritten) when that is
 * missing or bad. A pack member's comes from the pack's index: its seqs, times and drops, the chain
 * state before it when it is the pack's first, and no `numbers` (the index answers for them).
 */
export async function archivedSummary(fileSystem: PersistFileSystem | null, segment: ArchivedSegment): Promise<SegmentSummary> {
  const { pack, member } = segment;
  if (pack !== undefined && member !== undefined) {
    const drops = pack.drops.filter((drop) => drop.seq >= member.firstSeq && drop.seq <= member.lastSeq).map(({ seq, ts, org, projId }) => ({ seq, ts, org, projId }));
    const chain = member.firstSeq === pack.firstSeq && pack.chainBefore !== undefined ? { chainBefore: pack.chainBefore } : {};
    return { firstSeq: member.firstSeq, lastSeq: member.lastSeq, firstTs: member.firstTs, lastTs: member.lastTs, numbers: new RoaringBitmap32(), drops, ...chain };
  }
  const file = summaryPath(segment.path);
  const stored = await readSummary(file, segment.firstSeq);
  if (stored !== null) return stored;
  const built = await summariseSegment(segment);
  if (fileSystem !== null) await writeSummary(fileSystem, file, built).catch(() => undefined);
  return built;
}

/** One unit retention removes whole: a segment file or a pack. */
interface Unit {
  readonly segments: readonly ArchivedSegment[];
  readonly lastSeq: number;
  readonly lastTs: number | null;
  readonly pack?: PackIndex;
}

/** The units of `listing`, ascending, each summarised only when reached (a sweep stops at the first kept). */
async function* unitsOf(fileSystem: PersistFileSystem, listing: HistoryListing): AsyncGenerator<Unit> {
  const order: (PackIndex | SegmentFile)[] = [...listing.packs, ...listing.loose].sort((a, b) => a.firstSeq - b.firstSeq);
  for (const item of order) {
    if ('members' in item) yield { segments: packMembers(item), lastSeq: item.lastSeq, lastTs: item.lastTs, pack: item };
    else {
      const summary = await archivedSummary(fileSystem, item);
      yield { segments: [item], lastSeq: summary.lastSeq, lastTs: summary.lastTs };
    }
  }
}

/**
 * Removes, whole, every archived segment and pack whose last record is older than `retentionMs`
 * before `nowMs`, oldest first; returns how many segments went. The add events of numbers `listed`
 * now are first carried forward, durably; a segment's summary is kept without its numbers, a pack's
 * members' seqs, times and chain states in its `.idncgone` file (verify and evidence still link the
 * chain across them). Then the closed days are packed (packHistory).
 */
export async function sweepHistory(fileSystem: PersistFileSystem, dataDir: string, retentionMs: number, nowMs: number, listed: ListedNow): Promise<number> {
  const listing = await readHistoryListing(dataDir, lightIndices, true);
  const expired: Unit[] = [];
  for await (const unit of unitsOf(fileSystem, listing)) {
    if (unit.lastTs !== null && unit.lastTs >= nowMs - retentionMs) break;
    expired.push(unit);
  }
  let removed = 0;
  if (expired.length > 0) {
    const file = carriedPath(dataDir, HISTORY_DIR);
    const before = await readCarried(file);
    let carried: Carried = before;
    // A segment the file already holds (a crash after the write, before the removal) is not carried twice.
    for (const unit of expired) {
      for (const segment of unit.segments) if ((await lastSeqOf(fileSystem, segment)) > carried.throughSeq) carried = await carryForward(carried, segment, listed);
    }
    if (carried !== before) await writeCarried(fileSystem, file, carried);
    for (const unit of expired) {
      if (unit.pack !== undefined) await removePack(fileSystem, dataDir, unit.pack);
      else await removeSegment(fileSystem, unit.segments[0]!);
      removed += unit.segments.length;
    }
    await fileSystem.fsyncDirectory(historyDir(dataDir));
  }
  await packHistory(fileSystem, dataDir, nowMs);
  return removed;
}

async function lastSeqOf(fileSystem: PersistFileSystem, segment: ArchivedSegment): Promise<number> {
  return segment.member?.lastSeq ?? (await archivedSummary(fileSystem, segment)).lastSeq;
}

async function removeSegment(fileSystem: PersistFileSystem, segment: ArchivedSegment): Promise<void> {
  const summary = await archivedSummary(fileSystem, segment);
  const chain = summary.chainBefore === undefined ? undefined : encodeState(summary.chainBefore);
  await writeSummary(fileSystem, summaryPath(segment.path), { ...summary, numbers: new RoaringBitmap32(), drops: [] }, chain);
  await fileSystem.unlink(segment.path);
}

/** What stays of an expired pack's member: as an expired segment's summary, without numbers or drops. */
export interface GoneMember {
  readonly firstSeq: number;
  readonly lastSeq: number;
  readonly firstTs: number | null;
  readonly lastTs: number | null;
  readonly chainBefore?: ChainState;
}

export function gonePath(packFile: string): string {
  return packFile.replace(/\.idncpack$/, GONE_SUFFIX);
}

/** The chain state before each member, walked from the pack's (the index keeps only the first). */
async function memberStates(dataDir: string, pack: PackIndex): Promise<Map<number, ChainState>> {
  const states = new Map<number, ChainState>();
  if (pack.chainBefore === undefined) return states;
  const walked = await walkChain(dataDir, pack.chainBefore, { segments: packMembers(pack), upToSeq: pack.lastSeq, onSegmentStart: (segment, state) => states.set(segment.firstSeq, state) });
  return walked.stop === null ? states : new Map([[pack.firstSeq, pack.chainBefore]]);
}

async function removePack(fileSystem: PersistFileSystem, dataDir: string, pack: PackIndex): Promise<void> {
  const states = await memberStates(dataDir, pack);
  const members = pack.members.map((member) => {
    const state = states.get(member.firstSeq);
    return [member.firstSeq, member.lastSeq, member.firstTs, member.lastTs, state === undefined ? null : encodeState(state)];
  });
  const body = msgpack({ format: GONE_FORMAT, members });
  const footer = Buffer.alloc(4);
  footer.writeUInt32LE(crc32(body), 0);
  const file = gonePath(pack.path);
  await writeFileAtomically(fileSystem, file, [body, footer]);
  await fileSystem.unlink(pack.path);
}

/** The members an expired pack left, or null when the file fails its checks. */
export async function readGone(file: string): Promise<GoneMember[] | null> {
  try {
    const bytes = await fs.promises.readFile(file);
    if (bytes.length < 4 || crc32(bytes.subarray(0, bytes.length - 4)) !== bytes.readUInt32LE(bytes.length - 4)) return null;
    const value = unpack(bytes.subarray(0, bytes.length - 4)) as { format?: unknown; members?: unknown };
    if (value.format !== GONE_FORMAT || !Array.isArray(value.members)) return null;
    return (value.members as [number, number, number | null, number | null, unknown][]).map(([firstSeq, lastSeq, firstTs, lastTs, chain]) =>
      ({ firstSeq, lastSeq, firstTs, lastTs, ...(chain === null ? {} : { chainBefore: decodeState(chain) }) }));
  } catch {
    return null;
  }
}

/** Whether a segment file still there is byte for byte the pack's member of the same first seq. */
async function heldVerbatim(segment: SegmentFile, pack: PackIndex): Promise<boolean> {
  const member = pack.members.find((candidate) => candidate.firstSeq === segment.firstSeq);
  if (member === undefined) return false;
  const bytes = await fs.promises.readFile(segment.path);
  if (bytes.length !== member.bytes) return false;
  const handle = await fs.promises.open(pack.path, 'r');
  try {
    const span = Buffer.alloc(member.bytes);
    const { bytesRead } = await handle.read(span, 0, member.bytes, member.offset);
    return bytesRead === member.bytes && span.equals(bytes);
  } finally {
    await handle.close();
  }
}

/** Removes a packed segment file and its summary (the summary first: a summary without its file would read as expired). */
async function removeMember(fileSystem: PersistFileSystem, segment: SegmentFile): Promise<void> {
  await fileSystem.unlink(summaryPath(segment.path)).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'ENOENT') throw error;
  });
  await fileSystem.unlink(segment.path);
}

/** The UTC day of a time, or null. */
const dayOf = (ms: number | null): number | null => (ms === null ? null : Math.floor(ms / DAY_MS));

/** The segment files to pack, grouped: consecutive, of one UTC day before today's, up to HISTORY_PACK_BYTES_MAX; the oldest HISTORY_PACK_PASS_PACKS_MAX groups. */
async function packGroups(fileSystem: PersistFileSystem, loose: readonly SegmentFile[], throughSeq: number, nowMs: number): Promise<{ segment: SegmentFile; summary: SegmentSummary }[][]> {
  const groups: { segment: SegmentFile; summary: SegmentSummary }[][] = [];
  let group: { segment: SegmentFile; summary: SegmentSummary }[] = [];
  let day: number | null = null;
  let bytes = 0;
  for (const segment of loose) {
    const summary = await archivedSummary(fileSystem, segment);
    const segmentDay = dayOf(summary.firstTs);
    if (summary.lastSeq <= throughSeq) continue;
    if (segmentDay !== null && segmentDay >= dayOf(nowMs)!) break;
    const size = (await fs.promises.stat(segment.path)).size;
    const last = group.at(-1);
    if (last !== undefined && (last.summary.lastSeq !== segment.firstSeq - 1 || (segmentDay !== null && day !== null && segmentDay !== day) || bytes >= HISTORY_PACK_BYTES_MAX)) {
      groups.push(group);
      // A pass packs a bounded number: the rest (a directory an earlier version left) waits for the next passes.
      if (groups.length === HISTORY_PACK_PASS_PACKS_MAX) return groups;
      group = [];
      day = null;
      bytes = 0;
    }
    group.push({ segment, summary });
    day ??= segmentDay;
    bytes += size;
  }
  if (group.length > 0) groups.push(group);
  return groups;
}

/**
 * Packs the archived segment files of each UTC day before `nowMs`'s (a pack per day, or per 32
 * MiB), the oldest HISTORY_PACK_PASS_PACKS_MAX of them; returns how many segment files it packed.
 * Each pack is written durably, then its members removed. A crash or a failure at any step
 * leaves the members, or the pack, or both; a member a pack already holds byte for byte is removed
 * here. A failure stops the pass (the error is thrown) and the next pass starts from the files.
 */
export async function packHistory(fileSystem: PersistFileSystem, dataDir: string, nowMs: number): Promise<number> {
  const dir = historyDir(dataDir);
  const listing = await readHistoryListing(dataDir, lightIndices, true);
  // A pack or a gone file being written when a pass stopped: never renamed, so never counted.
  for (const name of listing.names) if (/\.(idncpack|idncgone)\.tmp$/.test(name)) await fileSystem.unlink(path.join(dir, name));
  if (listing.covered.length > 0) {
    // The pack's rename may not be durable yet if its pass failed after it: flush it before its members go.
    await fileSystem.fsyncDirectory(dir);
    for (const segment of listing.covered) {
      const pack = listing.packs.find((candidate) => candidate.firstSeq <= segment.firstSeq && segment.firstSeq <= candidate.lastSeq)!;
      if (await heldVerbatim(segment, pack)) await removeMember(fileSystem, segment);
    }
    await fileSystem.fsyncDirectory(dir);
  }
  const { throughSeq } = await readCarried(carriedPath(dataDir, HISTORY_DIR));
  let packed = 0;
  for (const group of await packGroups(fileSystem, listing.loose, throughSeq, nowMs)) {
    await writePack(fileSystem, dir, group.map(({ segment, summary }) => ({ segment, ...(summary.chainBefore === undefined ? {} : { chainBefore: summary.chainBefore }) })));
    for (const { segment } of group) await removeMember(fileSystem, segment);
    await fileSystem.fsyncDirectory(dir);
    packed += group.length;
  }
  return packed;
}
