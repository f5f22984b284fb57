// History queries over a data directory (docs/history.md): every change that touched a number in an
// organisation, oldest first, and what `status` would have answered at an instant. Read from the
// packs and segments archived in history/ and the live segments, up to the seq the asking engine
// has applied. A pack's index names the records that may hold the number, which alone are read; a
// segment whose summary shows it never touched the number (nor dropped one of the organisation's
// lists) is skipped unread. The listing of history/ (read again when the directory changes), the
// packs' indices and the summaries are cached per process: packs and archived segments never
// change, a live segment's summary is extended by the records written since, when it has grown. The
// add events carried forward past the retention (carry-forward.ts) come first, as if their segments
// were there.

import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { listDataDir, type SegmentFile } from '../persist/data-dir.js';
import type { ImportMeta, LogRecord } from '../persist/record.js';
import { historyEventOf, type HistoryEvent } from './history-event.js';

export type { HistoryEvent } from './history-event.js';
import { archivedSummary, HISTORY_DIR, historyDir, listHistory, packMembers, readHistoryListing, type ArchivedSegment, type HistoryListing, type PackIndexCache } from './archive.js';
import { carriedPath, NOTHING_CARRIED, readCarried, type Carried } from './carry-forward.js';
import { lastSeqAtIn, offsetsFor, readBulkRecordNaming, readRecordAt, type PackIndex, type PackRead } from './pack.js';
import { forEachRecord, type SegmentSpan } from './segment-records.js';
import { extendSummary, summaryKey, type GrowingSummary, type SegmentSummary } from './segment-summary.js';

/** Which lists of which organisation a query sees. */
export interface HistoryScope {
  readonly org: string;
  /** Only this project list (with the master list); absent: the master list and every project. */
  readonly projId?: string;
  /** A key limited to these projects sees only them (never the master list's events). */
  readonly projects?: readonly string[];
}

export interface StatusAtAnswer {
  readonly onList: boolean;
  readonly list: 'master' | 'project' | null;
  /** When the add that made it blocked was stored (ISO 8601), or null. */
  readonly since: string | null;
  /** The last seq stored at or before the instant (0: none kept). */
  readonly seq: number;
}

interface Candidate {
  readonly record: LogRecord;
  readonly hash: string;
  /** The change's import, from its last record (a change's records are consecutive, in one segment). */
  import?: ImportMeta;
}

/** A segment file with its summary, or a pack with its index. */
type Summarised = { readonly segment: SegmentFile; readonly summary: SegmentSummary; readonly pack?: undefined } | { readonly pack: PackIndex; readonly segment?: undefined };

const iso = (ms: number): string => new Date(ms).toISOString();

/** Whether sorted `numbers` holds `number` (binary search). */
function holds(numbers: Float64Array, number: number): boolean {
  let low = 0;
  let high = numbers.length - 1;
  while (low <= high) {
    const middle = (low + high) >>> 1;
    const value = numbers[middle]!;
    if (value === number) return true;
    if (value < number) low = middle + 1;
    else high = middle - 1;
  }
  return false;
}

export class HistoryReader {
  private readonly archived = new Map<string, SegmentSummary>();
  private readonly live = new Map<string, GrowingSummary>();
  private readonly packs: PackIndexCache = new Map();
  private listing: { readonly stamp: string; readonly listing: HistoryListing } | null = null;
  /** The archived entries of the cached listing, ascending, as they were made for `throughSeq`. */
  private archivedEntries: { readonly listing: HistoryListing; readonly throughSeq: number; readonly entries: readonly Summarised[] } | null = null;
  private carriedCache: { readonly stamp: string; readonly carried: Carried } | null = null;

  constructor(private readonly dataDir: string) {}

  /**
   * Reads what the first query needs (the listing of history/, every pack's index, the archived
   * segments' summaries) ahead of it, for an engine just opened: a query arriving meanwhile waits
   * for the same reads (the index cache holds them while under way) and answers as it would
   * without. Never rejects: a failure is met again, and reported, by the query that needs it.
   */
  async warm(): Promise<void> {
    try {
      await this.archivedList(await this.historyListing(false));
    } catch {
      // A file gone meanwhile or unreadable: the next query lists again and fails if it must.
    }
  }

  /** The carried-forward adds, read again only when the file changed (it is replaced whole). */
  private async carried(): Promise<Carried> {
    const file = carriedPath(this.dataDir, HISTORY_DIR);
    const stat = await fs.promises.stat(file, { bigint: true }).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return null;
      throw error;
    });
    if (stat === null) return NOTHING_CARRIED;
    const stamp = `${stat.ino}:${stat.mtimeNs}:${stat.size}`;
    if (this.carriedCache?.stamp !== stamp) this.carriedCache = { stamp, carried: await readCarried(file) };
    return this.carriedCache.carried;
  }

  /**
   * `query`, done again on a fresh listing when a file it read went meanwhile (a live segment
   * archived, segments packed, a pack past the retention removed): the files it then lists hold
   * the same records.
   */
  private async retried<T>(query: (fresh: boolean) => Promise<T>): Promise<T> {
    try {
      return await query(false);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      return query(true);
    }
  }

  /** Every change that touched `number` in the scope's lists, oldest first, up to `upToSeq`. */
  async events(number: number, scope: HistoryScope, upToSeq: number): Promise<HistoryEvent[]> {
    const candidates = await this.retried(async (fresh) => this.candidates(number, scope, upToSeq, (projId) => this.sees(scope, projId), await this.segments(upToSeq, fresh)));
    const on = new Map<string, boolean>();
    const events: HistoryEvent[] = [];
    for (const { record, hash, import: meta } of candidates) {
      const wasOn = on.get(record.projId) === true;
      if (record.op === 'drop' && !wasOn) continue;
      on.set(record.projId, record.op === 'add');
      events.push({ ...historyEventOf(record, hash), ...(meta === undefined ? {} : { import: meta }) });
    }
    return events;
  }

  /** What `status` would have answered for `number` at `atMs` (the project list first, then the master list). */
  async statusAt(number: number, atMs: number, scope: { org: string; projId: string }, upToSeq: number): Promise<StatusAtAnswer> {
    const { candidates, seq } = await this.retried(async (fresh) => {
      const segments = await this.segments(upToSeq, fresh);
      return { candidates: await this.candidates(number, scope, upToSeq, (projId) => projId === '' || projId === scope.projId, segments), seq: await this.lastSeqAt(atMs, upToSeq, segments) };
    });
    const since = new Map<string, number | null>();
    for (const { record } of candidates) {
      if (record.ts > atMs) break;
      if (record.op === 'add') {
        if ((since.get(record.projId) ?? null) === null) since.set(record.projId, record.ts);
      } else since.set(record.projId, null);
    }
    const project = scope.projId === '' ? null : (since.get(scope.projId) ?? null);
    const master = since.get('') ?? null;
    if (project !== null) return { onList: true, list: 'project', since: iso(project), seq };
    if (master !== null) return { onList: true, list: 'master', since: iso(master), seq };
    return { onList: false, list: null, since: null, seq };
  }

  private sees(scope: HistoryScope, projId: string): boolean {
    if (scope.projects !== undefined && !scope.projects.includes(projId)) return false;
    return projId === '' || scope.projId === undefined || scope.projId === projId;
  }

  /** The records that touched `number` (or dropped a list of the organisation) in lists `wanted` accepts, in seq order. */
  private async candidates(number: number, scope: { org: string }, upToSeq: number, wanted: (projId: string) => boolean, listed: readonly Summarised[]): Promise<Candidate[]> {
    const key = summaryKey(number);
    const found: Candidate[] = [];
    for (const entry of (await this.carried()).entries) {
      const { record } = entry;
      if (record.seq > upToSeq || record.org !== scope.org || !wanted(record.projId) || !holds(entry.numbers, number)) continue;
      found.push({ record, hash: createHash('sha256').update(entry.frame).digest('hex'), ...(entry.import === undefined ? {} : { import: entry.import }) });
    }
    const matches = (record: LogRecord): boolean => record.org === scope.org && wanted(record.projId) && (record.op === 'drop' || holds(record.numbers, number));
    for (const entry of listed) {
      if (entry.pack !== undefined) {
        // Most packs hold nothing of the number: no read, and no await (a thousand packs a query).
        const reads = offsetsFor(entry.pack, number);
        for (const drop of entry.pack.drops) if (drop.org === scope.org && wanted(drop.projId)) reads.push({ offset: drop.offset, bulk: false, import: null });
        if (reads.length > 0) found.push(...(await this.packCandidates(entry.pack, reads, number, scope.org, upToSeq, wanted, matches)));
        continue;
      }
      const { segment, summary } = entry;
      const drops = summary.drops.some((drop) => drop.org === scope.org && wanted(drop.projId));
      if (!drops && !summary.numbers.has(key)) continue;
      let unclosed: Candidate | undefined;
      await forEachRecord(segment, upToSeq, (record, frame) => {
        if (unclosed !== undefined && record.more !== true) {
          if (record.import !== undefined) unclosed.import = record.import;
          unclosed = undefined;
        }
        if (!matches(record)) return;
        const candidate: Candidate = { record, hash: createHash('sha256').update(frame).digest('hex'), ...(record.import === undefined ? {} : { import: record.import }) };
        if (record.more === true) unclosed = candidate;
        found.push(candidate);
      });
    }
    return found;
  }

  /** The records of a pack its index says may hold `number` (`reads`), and its drops of the organisation's lists, read one by one. */
  private async packCandidates(pack: PackIndex, reads: PackRead[], number: number, org: string, upToSeq: number, wanted: (projId: string) => boolean, matches: (record: LogRecord) => boolean): Promise<Candidate[]> {
    reads.sort((a, b) => a.offset - b.offset);
    const found: Candidate[] = [];
    const handle = await fs.promises.open(pack.path, 'r');
    try {
      for (const read of reads) {
        // A bulk record comes back only if it names the number, and without its numbers.
        const got = read.bulk ? await readBulkRecordNaming(handle, pack, read, number) : await readRecordAt(handle, pack, read.offset);
        if (got === null) continue;
        const { record } = got;
        if (record.seq > upToSeq || !(read.bulk ? record.org === org && wanted(record.projId) : matches(record))) continue;
        const meta = record.import ?? read.import ?? undefined;
        const hash = 'hash' in got ? got.hash : createHash('sha256').update(got.frame).digest('hex');
        found.push({ record, hash, ...(meta === undefined ? {} : { import: meta }) });
      }
    } finally {
      await handle.close();
    }
    return found;
  }

  /**
   * Calls `onRecord` for every kept record, in seq order, up to `upToSeq`: the adds carried forward
   * past the retention (whole records, as the log held them; of a split change, only the records
   * still carried, the last of them with its change's import), then the archived segments and the
   * live ones.
   */
  async forEachKeptRecord(upToSeq: number, onRecord: (record: LogRecord, carriedImport?: ImportMeta) => void): Promise<void> {
    // A carried record of a split import holds its change's input, which the change's last record (maybe not carried) named.
    for (const entry of (await this.carried()).entries) if (entry.record.seq <= upToSeq) onRecord(entry.record, entry.import);
    for (const entry of await this.segments(upToSeq, false)) {
      const spans: SegmentSpan[] = entry.pack === undefined ? [entry.segment] : packMembers(entry.pack);
      for (const span of spans) await forEachRecord(span, upToSeq, (record) => onRecord(record));
    }
  }

  /**
   * The archived segments (pack members and loose files), ascending, from the listing the queries
   * use: a pack's index is read once per reader, whichever of them asks (evidence walks the
   * segments its events' query found, without reading every index again).
   */
  async archivedSegments(): Promise<ArchivedSegment[]> {
    return listHistory(this.dataDir, await this.historyListing(false));
  }

  /** The last seq whose record was stored at or before `atMs`. */
  private async lastSeqAt(atMs: number, upToSeq: number, segments: readonly Summarised[]): Promise<number> {
    for (let i = segments.length - 1; i >= 0; i--) {
      const entry = segments[i]!;
      if (entry.pack !== undefined) {
        const firstTs = entry.pack.times[0];
        if (firstTs === undefined || firstTs > atMs) continue;
        return Math.min(upToSeq, await lastSeqAtIn(entry.pack, atMs));
      }
      const { segment, summary } = entry;
      if (summary.firstTs === null || summary.firstTs > atMs) continue;
      let last = segment.firstSeq - 1;
      await forEachRecord(segment, upToSeq, (record) => {
        if (record.ts <= atMs) last = record.seq;
      });
      return last;
    }
    return 0;
  }

  /** Archived and live segments with their summaries (packs with their indices), ascending, up to the one holding `upToSeq`. */
  private async segments(upToSeq: number, fresh: boolean): Promise<Summarised[]> {
    for (let attempt = 0; ; attempt++) {
      try {
        const listed = await this.listSegments(upToSeq, fresh || attempt > 0);
        if (listed !== null) return listed;
      } catch (error) {
        // A segment archived or packed, or a pack removed, between the listing and the read: list again.
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || attempt > 1) throw error;
      }
      if (attempt > 1) throw new Error('history/ and the live segments do not meet after three listings');
    }
  }

  /**
   * history/ as listed when it last changed (its directory's inode and mtime): a listing is read
   * again when the directory changed, or when `fresh` (a read failed, or the archived and the live
   * segments did not meet: a change within the mtime's granularity).
   */
  private async historyListing(fresh: boolean): Promise<HistoryListing> {
    const dir = historyDir(this.dataDir);
    const stat = await fs.promises.stat(dir, { bigint: true }).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return null;
      throw error;
    });
    const stamp = stat === null ? 'none' : `${stat.ino}:${stat.mtimeNs}`;
    if (fresh || this.listing?.stamp !== stamp) {
      const listing = await readHistoryListing(this.dataDir, this.packs);
      this.listing = { stamp, listing };
    }
    return this.listing.listing;
  }

  /** The segments, or null when the archived ones end before the live ones start (a stale listing). */
  private async listSegments(upToSeq: number, fresh: boolean): Promise<Summarised[] | null> {
    const result: Summarised[] = [];
    let archivedUpTo = 0;
    for (const entry of await this.archivedList(await this.historyListing(fresh))) {
      if ((entry.pack?.firstSeq ?? entry.segment?.firstSeq ?? 0) > upToSeq) break;
      result.push(entry);
      archivedUpTo = entry.pack === undefined ? entry.summary.lastSeq : entry.pack.lastSeq;
    }
    const { segments } = await listDataDir(this.dataDir);
    // Segments archived or removed since the last query are no longer live: forget their summaries.
    const current = new Set(segments.map((segment) => segment.path));
    for (const file of this.live.keys()) if (!current.has(file)) this.live.delete(file);
    const live = segments.filter((segment) => segment.firstSeq <= upToSeq && segment.firstSeq > archivedUpTo);
    if (!fresh && archivedUpTo > 0 && live.length > 0 && live[0]!.firstSeq > archivedUpTo + 1) return null;
    for (const segment of live) {
      const { size } = await fs.promises.stat(segment.path);
      let cached = this.live.get(segment.path);
      if (cached === undefined || (cached.summary.lastSeq < upToSeq && cached.endOffset < size)) {
        // Acknowledged records never move: read only the records after the summary's, up to upToSeq.
        cached = await extendSummary(segment, upToSeq, cached ?? null);
        this.live.set(segment.path, cached);
      }
      result.push({ segment, summary: cached.summary });
    }
    return result;
  }

  /** The packs and archived segments of `listing`, ascending, less those carried forward past the retention (made once per listing). */
  private async archivedList(listing: HistoryListing): Promise<readonly Summarised[]> {
    const { throughSeq } = await this.carried();
    if (this.archivedEntries?.listing === listing && this.archivedEntries.throughSeq === throughSeq) return this.archivedEntries.entries;
    const { packs, loose } = listing;
    const kept = new Set(loose.map((segment) => segment.path));
    for (const file of this.archived.keys()) if (!kept.has(file)) this.archived.delete(file);
    const entries: Summarised[] = [];
    // Expired and carried forward, not yet removed (a crash in between): its adds are in the carried file.
    for (const pack of packs) if (pack.lastSeq > throughSeq) entries.push({ pack });
    for (const segment of loose) {
      const entry = await this.looseEntry(segment, throughSeq);
      if (entry !== null) entries.push(entry);
    }
    entries.sort((a, b) => (a.pack?.firstSeq ?? a.segment!.firstSeq) - (b.pack?.firstSeq ?? b.segment!.firstSeq));
    this.archivedEntries = { listing, throughSeq, entries };
    return entries;
  }

  private async looseEntry(segment: SegmentFile, throughSeq: number): Promise<Summarised | null> {
    let summary = this.archived.get(segment.path);
    if (summary === undefined) {
      summary = await archivedSummary(null, segment);
      this.archived.set(segment.path, summary);
    }
    return summary.lastSeq <= throughSeq ? null : { segment, summary };
  }
}
