// History queries over a data directory (docs/history.md): every change that touched a number in an
// organisation, oldest first, and what `status` would have answered at an instant. Read from the
// archived segments (history/) and the live ones, up to the seq the asking engine has applied; a
// segment whose summary shows it never touched the number (nor dropped one of the organisation's
// lists) is skipped unread. Summaries are cached per process: archived segments never change, a
// live one's summary is extended by the records written since, when it has grown. The add events
// carried forward past the retention (carry-forward.ts) come first, as if their segments were there.

import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { listDataDir, type SegmentFile } from '../persist/data-dir.js';
import type { ImportMeta, LogRecord } from '../persist/record.js';
import { historyEventOf, type HistoryEvent } from './history-event.js';

export type { HistoryEvent } from './history-event.js';
import { archivedSummary, HISTORY_DIR, listHistory } from './archive.js';
import { carriedPath, NOTHING_CARRIED, readCarried, type Carried } from './carry-forward.js';
import { forEachRecord } from './segment-records.js';
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

interface Summarised {
  readonly segment: SegmentFile;
  readonly summary: SegmentSummary;
}

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
  private carriedCache: { readonly stamp: string; readonly carried: Carried } | null = null;

  constructor(private readonly dataDir: string) {}

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

  /** Every change that touched `number` in the scope's lists, oldest first, up to `upToSeq`. */
  async events(number: number, scope: HistoryScope, upToSeq: number): Promise<HistoryEvent[]> {
    const candidates = await this.candidates(number, scope, upToSeq, (projId) => this.sees(scope, projId));
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
    const candidates = await this.candidates(number, scope, upToSeq, (projId) => projId === '' || projId === scope.projId);
    const since = new Map<string, number | null>();
    for (const { record } of candidates) {
      if (record.ts > atMs) break;
      if (record.op === 'add') {
        if ((since.get(record.projId) ?? null) === null) since.set(record.projId, record.ts);
      } else since.set(record.projId, null);
    }
    const project = scope.projId === '' ? null : (since.get(scope.projId) ?? null);
    const master = since.get('') ?? null;
    const seq = await this.lastSeqAt(atMs, upToSeq);
    if (project !== null) return { onList: true, list: 'project', since: iso(project), seq };
    if (master !== null) return { onList: true, list: 'master', since: iso(master), seq };
    return { onList: false, list: null, since: null, seq };
  }

  private sees(scope: HistoryScope, projId: string): boolean {
    if (scope.projects !== undefined && !scope.projects.includes(projId)) return false;
    return projId === '' || scope.projId === undefined || scope.projId === projId;
  }

  /** The records that touched `number` (or dropped a list of the organisation) in lists `wanted` accepts, in seq order. */
  private async candidates(number: number, scope: { org: string }, upToSeq: number, wanted: (projId: string) => boolean): Promise<Candidate[]> {
    const key = summaryKey(number);
    const found: Candidate[] = [];
    for (const entry of (await this.carried()).entries) {
      const { record } = entry;
      if (record.seq > upToSeq || record.org !== scope.org || !wanted(record.projId) || !holds(entry.numbers, number)) continue;
      found.push({ record, hash: createHash('sha256').update(entry.frame).digest('hex'), ...(entry.import === undefined ? {} : { import: entry.import }) });
    }
    for (const { segment, summary } of await this.segments(upToSeq)) {
      const drops = summary.drops.some((drop) => drop.org === scope.org && wanted(drop.projId));
      if (!drops && !summary.numbers.has(key)) continue;
      let unclosed: Candidate | undefined;
      await forEachRecord(segment, upToSeq, (record, frame) => {
        if (unclosed !== undefined && record.more !== true) {
          if (record.import !== undefined) unclosed.import = record.import;
          unclosed = undefined;
        }
        if (record.org !== scope.org || !wanted(record.projId)) return;
        if (record.op !== 'drop' && !holds(record.numbers, number)) return;
        const candidate: Candidate = { record, hash: createHash('sha256').update(frame).digest('hex'), ...(record.import === undefined ? {} : { import: record.import }) };
        if (record.more === true) unclosed = candidate;
        found.push(candidate);
      });
    }
    return found;
  }

  /** Calls `onRecord` for every kept record (archived, then live), in seq order, up to `upToSeq`. */
  async forEachKeptRecord(upToSeq: number, onRecord: (record: LogRecord) => void): Promise<void> {
    for (const { segment } of await this.segments(upToSeq)) await forEachRecord(segment, upToSeq, onRecord);
  }

  /** The last seq whose record was stored at or before `atMs`. */
  private async lastSeqAt(atMs: number, upToSeq: number): Promise<number> {
    const segments = await this.segments(upToSeq);
    for (let i = segments.length - 1; i >= 0; i--) {
      const { segment, summary } = segments[i]!;
      if (summary.firstTs === null || summary.firstTs > atMs) continue;
      let last = segment.firstSeq - 1;
      await forEachRecord(segment, upToSeq, (record) => {
        if (record.ts <= atMs) last = record.seq;
      });
      return last;
    }
    return 0;
  }

  /** Archived and live segments with their summaries, ascending, up to the one holding `upToSeq`. */
  private async segments(upToSeq: number): Promise<Summarised[]> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.listSegments(upToSeq);
      } catch (error) {
        // A live segment archived between the listing and the read: list again.
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || attempt > 0) throw error;
      }
    }
  }

  private async listSegments(upToSeq: number): Promise<Summarised[]> {
    const result: Summarised[] = [];
    const archived = await listHistory(this.dataDir);
    const kept = new Set(archived.map((segment) => segment.path));
    for (const file of this.archived.keys()) if (!kept.has(file)) this.archived.delete(file);
    const { throughSeq } = await this.carried();
    for (const segment of archived) {
      if (segment.firstSeq > upToSeq) break;
      let summary = this.archived.get(segment.path);
      if (summary === undefined) {
        summary = await archivedSummary(null, segment);
        this.archived.set(segment.path, summary);
      }
      // Expired and carried forward, not yet removed (a crash in between): its adds are in the carried file.
      if (summary.lastSeq <= throughSeq) continue;
      result.push({ segment, summary });
    }
    const { segments } = await listDataDir(this.dataDir);
    // Segments archived or removed since the last query are no longer live: forget their summaries.
    const current = new Set(segments.map((segment) => segment.path));
    for (const file of this.live.keys()) if (!current.has(file)) this.live.delete(file);
    const archivedUpTo = result.at(-1)?.summary.lastSeq ?? 0;
    for (const segment of segments) {
      if (segment.firstSeq > upToSeq || segment.firstSeq <= archivedUpTo) continue;
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
}
