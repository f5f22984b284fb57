// The engine's public option and result types, in a module of their own so that the engine's
// parts (engine/*.ts), the HTTP layer and the CLI can name them without importing the engine.

import type { EngineLogger } from '../logger.js';
import type { InvalidEntry } from '../errors.js';
import type { FsyncMode, WriterState } from '../persist/log-writer.js';
import type { BlockingList } from '../store/lookup.js';
import type { ListEntry } from '../store/dnc-store.js';
import type { HistoryEvent, StatusAtAnswer } from '../history/query.js';

export type { ListEntry } from '../store/dnc-store.js';

export interface ListOptions {
  /** Organisation owning the list; defaults to `default`. */
  org?: string;
  /** Project list; absent or empty means the organisation's master list. */
  projId?: string;
}

export interface BatchOptions extends ListOptions {
  /** Skip invalid entries and report them instead of refusing the whole batch. */
  ignoreInvalid?: boolean;
}

export interface WriteOptions extends BatchOptions {
  /** Id (never the secret) of the API key making the change, recorded in the durable log. */
  keyId?: string;
  /** How the consumer asked, for the history: 1-32 of a-z 0-9 _ - (default 'api'; docs/history.md). */
  source?: string;
  /** Why, in the consumer's or agent's words: at most 200 characters, stored as given, never logged. */
  reason?: string;
  /** When the consumer asked: ISO 8601 text with a zone, or ms since the epoch (default: when stored). */
  requestedAt?: string | number;
  /**
   * A bulk import's input, for its history event: SHA-256 (64 lower-case hex digits) of its raw
   * bytes as read, its name (a file's base name, 'stdin') and size in bytes; the event adds `count`.
   * A change that is part `part` of `parts` of a larger input names the whole input, with `count`
   * its distinct numbers (all three given, or none).
   */
  import?: { sha256: string; name: string; bytes: number; count?: number; part?: number; parts?: number };
}

export interface WriteResult {
  /** Numbers whose state changed (added and not present before, or removed and present before). */
  readonly changed: number;
  /** Invalid entries skipped (only with ignoreInvalid). */
  readonly skipped: number;
  /** The first skipped entries, with reasons. */
  readonly invalid: readonly InvalidEntry[];
  /** Log sequence number of the change (0 for a purely in-memory engine). */
  readonly seq: number;
}

export interface StatusEntry {
  readonly phone: string;
  readonly onList: boolean;
  readonly list: BlockingList;
}

export interface ScrubResult {
  /** The blocked numbers of the input, in input order (a number given twice appears twice). */
  readonly blocked: string[];
  /** Valid numbers checked (duplicates included). */
  readonly checked: number;
  readonly skipped: number;
  readonly invalid: readonly InvalidEntry[];
}

/** 'drop' forgets a project list whole (its numbers are empty). */
export type ChangeOperation = 'add' | 'remove' | 'drop';

/** `Dnc.lists`: one page of an organisation's lists, in project id order. */
export interface ListsOptions {
  /** Organisation; defaults to `default`. */
  org?: string;
  /** Lists in the page, 1 to LISTS_PAGE_LIMIT_MAX (default LISTS_PAGE_LIMIT_DEFAULT). */
  limit?: number;
  /**
   * Only lists whose projId sorts after this one: the `next` of the previous page. Absent: from the
   * start, the master list first (its projId is ''); '' therefore means every project list.
   */
  after?: string;
}

export interface ListsPage {
  /** Lists holding numbers ('' is the master list), by projId. */
  readonly lists: readonly ListEntry[];
  /** The `after` of the next page; null when this page is the last. */
  readonly next: string | null;
}

/** `Dnc.history` / `Dnc.statusAt`: whose lists are seen. */
export interface HistoryOptions {
  /** Organisation; defaults to `default`. */
  org?: string;
  /** history: only this project list's events (and the master list's); statusAt: the list `status` would check first. */
  projId?: string;
  /** history: only these projects' events, never the master list's (an API key limited to projects). */
  projects?: readonly string[];
}

/** `Dnc.history`: every change that touched the number, oldest first. */
export interface HistoryResult {
  readonly phone: string;
  readonly events: readonly HistoryEvent[];
}

/** `Dnc.statusAt`: what `status` would have answered at `at`. */
export interface StatusAtResult extends StatusAtAnswer {
  readonly phone: string;
  /** The instant asked about, ISO 8601 with ms, UTC. */
  readonly at: string;
}

export type { HistoryEvent, StatusAtAnswer } from '../history/query.js';

export interface DropListOptions {
  org?: string;
  /** The project list to drop; the master list cannot be dropped. */
  projId: string;
  /** Id (never the secret) of the API key making the change, recorded in the durable log. */
  keyId?: string;
}

export interface DropResult {
  /** Numbers the list held when it was dropped. */
  readonly numbers: number;
  /** Log sequence number of the drop (0 for a purely in-memory engine). */
  readonly seq: number;
}

/** An organisation's running counts: lists holding numbers (the master list included) and their numbers. */
export interface OrganisationStats {
  readonly org: string;
  readonly lists: number;
  readonly numbers: number;
}

export interface ListStats {
  readonly org: string;
  /** '' for the master list. */
  readonly projId: string;
  readonly numbers: number;
}

/** What a durable engine reports about its log and snapshots (null for an in-memory engine). */
export interface LogStats {
  /** Seq of the last durable change. */
  readonly seq: number;
  /** Log records and bytes written since the last snapshot (bytes: since this process started, if later). */
  readonly recordsSinceSnapshot: number;
  readonly bytesSinceSnapshot: number;
  /** Wall-clock time (ms since the epoch) of the last snapshot written or loaded; null: none yet. */
  readonly lastSnapshotAtMs: number | null;
  /** How long the last snapshot written by this process took; null: none yet. */
  readonly lastSnapshotDurationMs: number | null;
  /** 'open', 'unwritable' (disk full, probing), 'failed' (fsync failed), 'stopped' (fail-stop) or 'closed'. */
  readonly writerState: WriterState;
}

/** What a read-only follower reports about how current it is (null for a writer or an in-memory engine). */
export interface FollowerStats {
  /** Every change the writer acknowledged longer ago than this is visible here (see engine/follower.ts). */
  readonly lagMs: number;
}

export interface EngineStats {
  /** Every organisation with its running counts, by name (no list is walked). */
  readonly organisations: readonly OrganisationStats[];
  /** Every list: built when read, walking them all; page with `Dnc.lists` instead where lists are many. */
  readonly lists: readonly ListStats[];
  readonly log: LogStats | null;
  readonly follower: FollowerStats | null;
  /** A writer replicating to NATS JetStream (openDnc with `replicate`) or a follower of a stream (`follow`); absent otherwise. */
  readonly replication?: ReplicationStats;
}

/** How a durable engine flushes its log before acknowledging (see the durability design). */
export type { FsyncMode } from '../persist/log-writer.js';
export type { EngineLogger } from '../logger.js';

export interface OpenDncOptions {
  /** Data directory for the durable log and snapshots; without it idnc is purely in memory. */
  dataDir?: string;
  /** Open a live data directory as a read-only follower of its writer. */
  readOnly?: boolean;
  /** Default 'always': acknowledge only after fdatasync (group commit). */
  fsync?: FsyncMode;
  /** Snapshot period when something changed (default 5 minutes). */
  snapshotIntervalMs?: number;
  /** Snapshot when the log since the last snapshot exceeds this size (default 64 MiB). */
  snapshotLogBytes?: number;
  logger?: EngineLogger;
  /** Called with the duration of every fdatasync of the log, in seconds (metrics). */
  fsyncObserver?: (seconds: number) => void;
  /** With `dataDir`: also publish every change to a NATS JetStream stream (docs/replication.md). */
  replicate?: ReplicateOptions;
  /** Instead of `dataDir`: follow a writer on another host through its NATS JetStream stream, read-only. */
  follow?: FollowOptions;
}

/** How a writer publishes its log to NATS JetStream (docs/replication.md). */
export interface ReplicateOptions {
  /** NATS server URLs, comma-separated: `nats://h1:4222,nats://h2:4222`. */
  readonly servers: string;
  /** The stream (default `IDNC`), created when missing. */
  readonly stream?: string;
  /** Copies of a stream created here (default 3, file storage). */
  readonly replicas?: number;
  /**
   * 'quorum' (default): a change is acknowledged once the stream has it as well as the local log;
   * while NATS is unreachable changes are refused (REPLICATION_UNAVAILABLE). 'local': acknowledged
   * after the local fsync, published behind (`stats().replication.backlog`).
   */
  readonly ack?: ReplicationAck;
  /**
   * Quorum only: start as a standby (a quorum writer stands by anyway while another holds the
   * writer lease): follow the stream into the data directory and take over when the lease expires.
   */
  readonly standby?: boolean;
  /** The writer lease (default 3000 ms): a standby takes over about this long after the writer's death. */
  readonly leaseMs?: number;
  /**
   * The URL clients reach this writer at (http(s)://host:port), written into the writer lease
   * while it holds it, so that standbys and followers can name it (`stats().replication.leader`).
   */
  readonly advertiseUrl?: string;
}

export type ReplicationAck = 'quorum' | 'local';

/** Which stream a follower on another host follows. */
export interface FollowOptions {
  /** NATS server URLs, comma-separated. */
  readonly servers: string;
  /** The writer's stream (default `IDNC`). */
  readonly stream?: string;
}

/** What a replicated writer or a follower of a stream reports about its stream. */
export interface ReplicationStats {
  readonly stream: string;
  /** 'writer' (publishing, or trying to), 'standby' (another writer holds the writer lease) or 'follower' (`follow`). */
  readonly role: 'writer' | 'standby' | 'follower';
  /** The writer's acknowledgement rule; null on a follower. */
  readonly ack: ReplicationAck | null;
  /** 'ready' (publishing or following), else why not: 'connecting', 'reconciling', 'diverged', 'closed'. */
  readonly state: string;
  /** Why the state is not 'ready' ('' when it is). */
  readonly reason: string;
  /** Last seq known to be in the stream. */
  readonly streamSeq: number;
  /** Changes acknowledged here and not yet in the stream (the writer under 'local'); 0 otherwise. */
  readonly backlog: number;
  /**
   * The URL of the writer that takes changes, when known: this writer's own `advertiseUrl` while it
   * writes; on a standby or a follower, the one the writer lease names. null when unknown.
   */
  readonly leader: string | null;
}
