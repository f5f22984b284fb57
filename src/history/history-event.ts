// One history event as every reader shows it (`history`, HTTP, CLI, evidence files): derived from
// a log record alone, so the query and the standalone evidence verifier (evidence-verify.ts) cannot
// disagree about what a record says. Pure: no file system.

import type { ImportMeta, LogRecord } from '../persist/record.js';
import { DEFAULT_SOURCE, LIBRARY_KEY_ID } from './change-meta.js';

export interface HistoryEvent {
  readonly seq: number;
  /** When the change was stored: ISO 8601 with ms, UTC. */
  readonly at: string;
  readonly op: 'add' | 'remove';
  readonly list: 'master' | 'project';
  readonly projId: string | null;
  /** The API key's id, 'cli' or 'library'. */
  readonly keyId: string;
  readonly source: string;
  readonly reason: string | null;
  readonly requestedAt: string;
  /** SHA-256 (hex) of the record's bytes: its digest in the hash chain. */
  readonly hash: string;
  /** A bulk import's input (SHA-256 of its raw bytes, name, bytes, numbers named); absent for other changes. */
  readonly import?: ImportMeta;
}

const iso = (ms: number): string => new Date(ms).toISOString();

/** The event a record shows (a drop is a remove of its list), `hash` its digest in hex. */
export function historyEventOf(record: LogRecord, hash: string): HistoryEvent {
  return {
    seq: record.seq,
    at: iso(record.ts),
    op: record.op === 'add' ? 'add' : 'remove',
    list: record.projId === '' ? 'master' : 'project',
    projId: record.projId === '' ? null : record.projId,
    keyId: record.keyId ?? LIBRARY_KEY_ID,
    source: record.source ?? DEFAULT_SOURCE,
    reason: record.reason ?? null,
    requestedAt: iso(record.requestedAt ?? record.ts),
    hash,
  };
}
