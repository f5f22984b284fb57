// The engine: the object a dialer or the server holds. It validates input, applies changes to the
// in-memory store and answers lookups. Reads are synchronous local calls; writes return a promise
// that resolves once the change is applied (and, with a data directory, durable).
//
// One class for every kind of engine, composed of a source (source.ts: where the store comes from)
// and a change sink (change-sink.ts: how a change takes effect): in memory, the durable log
// (durable-log.ts, both parts at once), or a follower (follower.ts) that swaps the store as it
// follows the writer's log and forwards or refuses changes. open.ts picks the parts. One class
// means one hidden shape whatever the kind, so the isBlocked path below stays monomorphic in V8.
// The members only a durable engine or a follower has are reached through the DurableDnc and
// DncFollower types (views.ts); here they go to the source of that kind, and to no other.

import { assert } from '../assert.js';
import { IdncError } from '../errors.js';
import { formatDigits, isValidNumber, isValidSplit } from '../phone/digits.js';
import { AREA_REST_MODULUS, LISTS_PAGE_LIMIT_DEFAULT, LISTS_PAGE_LIMIT_MAX } from '../constants.js';
import { parsePhone, parsePhoneInput, requireValid, type PhoneListInput } from '../phone/phone-list.js';
import { DncStore, listAreaNumbers } from '../store/dnc-store.js';
import { checkListAddress, checkOrganisationId, checkProjectId, MASTER_LIST, type ListAddress } from '../store/list-id.js';
import { blockingCodes, blockingListIn, isBlockedNumber, resolveLists, scrubNumbers } from '../store/lookup.js';
import { stateDigest } from '../persist/state-digest.js';
import { SeqWaiters } from './seq-waiters.js';
import { sortUniqueNumbers } from '../bulk/sort-numbers.js';
import { IN_MEMORY, type ChangeSink, type EngineLink } from './change-sink.js';
import { checkChangeMeta, checkImportCount, ISO_INSTANT } from '../history/change-meta.js';
import { anchorState, headOf, type ChainHead } from '../history/chain.js';
import { ChainTracker } from '../history/chain-tracker.js';
import { HistoryReader } from '../history/query.js';
import type { DurableLog } from './durable-log.js';
import type { FollowerEvent, LogFollower } from './follower.js';
import { MemorySource, type FollowerSource, type SourceKind, type WriterSource } from './source.js';
import type {
  BatchOptions,
  ChangeOperation,
  DropListOptions,
  DropResult,
  EngineStats,
  HistoryOptions,
  HistoryResult,
  StatusAtResult,
  ListOptions,
  ListsOptions,
  ListsPage,
  ListStats,
  ScrubResult,
  StatusEntry,
  WriteOptions,
  WriteResult,
} from './types.js';

// The number path of isBlocked reads these through module-local names: V8 loads an imported binding
// from its module cell, with a hole check, at every use in optimised code, where a module's own
// const is folded into the code (what this and the rest of the number path saved: docs/design.md).
const REST_MODULUS = AREA_REST_MODULUS;
const isValidSplitNumber = isValidSplit;
/** The numbers of a drop: none. */
const NO_NUMBERS = new Float64Array(0);

/** Every kind of source; a kind's own members are found by narrowing on `kind`. */
export type Source = MemorySource | DurableLog | LogFollower | WriterSource | FollowerSource;

/** The parts of an engine (open.ts). */
export interface DncParts {
  readonly source: Source;
  readonly sink: ChangeSink;
}

/** Who has a kind's own members, for the assertion that refuses them elsewhere. */
const KIND_NAMES: Record<SourceKind, string> = {
  memory: 'an in-memory engine',
  durable: 'a durable engine (openDnc with a dataDir)',
  follower: 'a follower (openDnc with readOnly: true)',
};

export class Dnc {
  /** Replaced whole (never mutated half-way) when a read-only follower reloads from a snapshot. */
  private store: DncStore;
  private closed = false;
  private closing: Promise<void> | null = null;
  private readonly seqWaiters = new SeqWaiters();
  private readonly sink: ChangeSink;
  private readonly source: Source;
  /** A follower's hash chain, walked from the data directory when a head is asked for. */
  private followerChain: ChainTracker | null = null;
  /** The history queries' reader of the data directory (its summary caches), made at open or at the first query. */
  private historyReader: HistoryReader | null = null;
  /** The reader's read-ahead of history/, started at open (see warmHistory). */
  private historyWarming: Promise<void> | null = null;

  /** Without parts: a purely in-memory engine. */
  constructor(parts: DncParts = { source: new MemorySource(), sink: IN_MEMORY }) {
    this.store = parts.source.store;
    this.sink = parts.sink;
    this.source = parts.source;
    const link: EngineLink = {
      replaceStore: (store) => {
        this.store = store;
      },
      seqAdvanced: () => this.seqWaiters.advance(this.lastSeq),
      waitFor: (seq, timeoutMs) => this.waitFor(seq, timeoutMs),
    };
    parts.source.attach(link);
    parts.sink.attach?.(link);
    // The first history query of a process reads every pack's index (seconds at national scale): read them now, in the background.
    if (parts.source.kind !== 'memory' && parts.source.dataDir !== null) void this.warmHistory();
  }

  /** The kind of an engine (instanceof DurableDnc / DncFollower); null for anything else. */
  static kindOf(value: unknown): SourceKind | null {
    return value instanceof Dnc ? value.source.kind : null;
  }

  /** Seq of the last change applied to this instance's memory (0 for a purely in-memory engine). */
  get lastSeq(): number {
    return this.source.lastSeq;
  }

  /**
   * Resolves once this instance has applied the change with log seq `seq` (the `idnc-seq` header
   * of an HTTP add/remove, or `WriteResult.seq`); rejects with WAIT_TIMEOUT after `timeoutMs`.
   */
  waitFor(seq: number, timeoutMs: number): Promise<void> {
    try {
      this.assertOpen();
      return this.seqWaiters.wait(this.lastSeq, seq, timeoutMs);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  // Not async wrappers: change() is the one async layer of a write (each layer costs a promise and
  // a microtask turn per add, and durable adds are bounded by per-add CPU).
  add(phones: PhoneListInput, options: WriteOptions = {}): Promise<WriteResult> {
    return this.change('add', phones, options);
  }

  remove(phones: PhoneListInput, options: WriteOptions = {}): Promise<WriteResult> {
    return this.change('remove', phones, options);
  }

  status(phones: PhoneListInput, options: BatchOptions = {}): StatusEntry[] {
    this.assertOpen();
    const address = checkListAddress(options);
    const list = parsePhoneInput(phones);
    requireValid(list, options.ignoreInvalid === true);
    const lists = resolveLists(this.store, address);
    const entries: StatusEntry[] = new Array(list.numbers.length);
    for (let i = 0; i < list.numbers.length; i++) {
      const number = list.numbers[i]!;
      const blocking = blockingListIn(lists, number);
      entries[i] = { phone: formatDigits(number), onList: blocking !== null, list: blocking };
    }
    return entries;
  }

  count(options: ListOptions = {}): number {
    this.assertOpen();
    return this.store.list(checkListAddress(options))?.size ?? 0;
  }

  scrub(phones: PhoneListInput, options: BatchOptions = {}): ScrubResult {
    this.assertOpen();
    const address = checkListAddress(options);
    const list = parsePhoneInput(phones);
    requireValid(list, options.ignoreInvalid === true);
    const blocked = scrubNumbers(this.store, address, list.numbers);
    return {
      blocked: Array.from(blocked, formatDigits),
      checked: list.numbers.length,
      skipped: list.invalidCount,
      invalid: list.invalid,
    };
  }

  /** Synchronous single-number check; throws InvalidPhoneError for an invalid number. */
  isBlocked(phone: string | number, options?: ListOptions): boolean {
    // Two methods behind a small dispatcher, so that a caller's loop can inline the number path
    // whatever else the process checks (docs/design.md, the number path).
    if (typeof phone === 'number' && options === undefined) return this.isBlockedInDefaultMaster(phone);
    return this.isBlockedInList(phone, options);
  }

  /** The hot path of an embedded dialer: one split serves both the validation and the probe. */
  private isBlockedInDefaultMaster(phone: number): boolean {
    if (this.closed === true) this.assertOpen(); // `=== true`: a bare truthiness test compiles to a type dispatch
    // `| 0` is Math.floor for a valid number and gives an integer without a conversion check; for
    // any other input isValidSplit (see there) is false.
    const areaCode = (phone / REST_MODULUS) | 0;
    const rest = phone - areaCode * REST_MODULUS;
    if (!isValidSplitNumber(areaCode, rest)) return this.store.defaultMaster?.has(parsePhone(phone)) === true; // parsePhone throws the reason
    const master = this.store.defaultMaster;
    return master !== undefined && master.hasRest(areaCode, rest);
  }

  private isBlockedInList(phone: string | number, options: ListOptions | undefined): boolean {
    if (this.closed === true) this.assertOpen();
    const number = typeof phone === 'number' && isValidNumber(phone) ? phone : parsePhone(phone);
    if (options === undefined) return this.store.defaultMaster?.has(number) === true;
    return isBlockedNumber(this.store, options.org, options.projId, number);
  }

  /**
   * Bulk add of already-parsed numbers (10-digit integers, any order, duplicates allowed): validated,
   * radix-sorted and de-duplicated IN PLACE in `numbers`, then applied as one change (one durable
   * commit). `distinct` is how many different numbers the change held.
   */
  async addNumbers(numbers: Float64Array, options: WriteOptions = {}): Promise<WriteResult & { distinct: number }> {
    return this.changeNumbers('add', numbers, options);
  }

  /** Bulk remove; the counterpart of addNumbers. */
  async removeNumbers(numbers: Float64Array, options: WriteOptions = {}): Promise<WriteResult & { distinct: number }> {
    return this.changeNumbers('remove', numbers, options);
  }

  /** Writes into `out[i]` which list blocks `numbers[i]` (0 none, 1 project, 2 master), for i < count. */
  blockingCodes(numbers: Float64Array, count: number, out: Uint8Array, options: ListOptions = {}): void {
    this.assertOpen();
    blockingCodes(this.store, checkListAddress(options), numbers, count, out);
  }

  /** The numbers of one list in ascending order, one area code per array (exports, constant memory). */
  *listNumbers(options: ListOptions = {}): IterableIterator<Float64Array> {
    this.assertOpen();
    yield* listAreaNumbers(this.store, checkListAddress(options));
  }

  /**
   * Operational figures for monitoring: read-only. `organisations` and `lists` are computed when
   * read (a metrics scrape reads the running counts of `organisations`, never every list).
   */
  stats(): EngineStats {
    const store = this.store;
    const { log, follower, replication } = this.source.stats();
    return {
      get organisations() {
        return store.organisationCounts();
      },
      get lists() {
        const lists: ListStats[] = [];
        for (const [address, set] of store.lists()) lists.push({ org: address.org, projId: address.projId, numbers: set.size });
        return lists;
      },
      log,
      follower,
      ...(replication === undefined ? {} : { replication }),
    };
  }

  /**
   * One page of an organisation's lists that hold numbers, by projId (the master list, '', first):
   * a binary search in the organisation's sorted ids, then the page; no list is walked.
   */
  lists(options: ListsOptions = {}): ListsPage {
    this.assertOpen();
    const org = checkOrganisationId(options.org);
    const limit = options.limit ?? LISTS_PAGE_LIMIT_DEFAULT;
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > LISTS_PAGE_LIMIT_MAX) {
      throw new IdncError('INVALID_PARAMETER', `invalid limit ${JSON.stringify(String(limit).slice(0, 32))}: expected a whole number from 1 to ${LISTS_PAGE_LIMIT_MAX}`);
    }
    const after = options.after === undefined ? undefined : checkProjectId(options.after);
    const organisation = this.store.organisation(org);
    if (organisation === undefined) return { lists: [], next: null };
    const { lists, more } = organisation.page(after, limit);
    return { lists, next: more ? lists[lists.length - 1]!.projId : null };
  }

  /**
   * Drops a project list whole: one durable change (one log record), like add and remove. The
   * master list cannot be dropped (INVALID_PARAMETER); a list that holds no numbers does not exist
   * (LIST_NOT_FOUND). Two drops of one list racing each other may both succeed, the later with 0.
   */
  async dropList(options: DropListOptions): Promise<DropResult> {
    this.assertOpen();
    const address = checkListAddress(options);
    if (address.projId === MASTER_LIST) throw new IdncError('INVALID_PARAMETER', 'the master list cannot be dropped: give the projId of a project list');
    if (this.store.list(address) === undefined) {
      throw new IdncError('LIST_NOT_FOUND', `organisation ${JSON.stringify(address.org)} has no list ${JSON.stringify(address.projId)}`);
    }
    const { changed, seq } = await this.sink.commit('drop', address, NO_NUMBERS, options.keyId ?? null, () => this.store.dropList(address));
    return { numbers: changed, seq };
  }

  /**
   * The head of the hash chain over the log at this instance's lastSeq (docs/history.md): `{ seq,
   * at, hash }`, to keep elsewhere and later prove with `idnc verify --head HASH@SEQ` that nothing
   * up to it changed. An in-memory engine logs nothing: its chain is empty (seq 0, the zero hash).
   */
  async historyHead(): Promise<ChainHead> {
    this.assertOpen();
    const source = this.source;
    if (source.kind === 'durable') return source.historyHead();
    if (source.kind === 'follower') {
      this.followerChain ??= new ChainTracker(historyDataDir(source.dataDir));
      return this.followerChain.headAt(this.lastSeq);
    }
    return headOf(anchorState(0));
  }

  /**
   * Every change that touched `phone` in the organisation's lists, oldest first (docs/history.md):
   * the master list's and every project's, or `projId`'s and the master list's, or only `projects`'.
   * Read from the log and its archive up to this instance's lastSeq; an in-memory engine logs nothing.
   */
  async history(phone: string | number, options: HistoryOptions = {}): Promise<HistoryResult> {
    this.assertOpen();
    const number = parsePhone(phone);
    const org = checkOrganisationId(options.org);
    const scope = {
      org,
      ...(options.projId === undefined ? {} : { projId: checkProjectId(options.projId) }),
      ...(options.projects === undefined ? {} : { projects: options.projects.map(checkProjectId) }),
    };
    const reader = this.readerOfHistory();
    const events = reader === null ? [] : await reader.events(number, scope, this.lastSeq);
    return { phone: formatDigits(number), events };
  }

  /**
   * What `status(phone, { org, projId })` would have answered at `at` (ISO 8601 with a zone, ms since
   * the epoch, or a Date), from the history (`history`'s changes up to `at`).
   */
  async statusAt(phone: string | number, at: string | number | Date, options: ListOptions = {}): Promise<StatusAtResult> {
    this.assertOpen();
    const number = parsePhone(phone);
    const atMs = instantOf(at);
    const scope = { org: checkOrganisationId(options.org), projId: checkProjectId(options.projId) };
    const reader = this.readerOfHistory();
    const answer = reader === null ? { onList: false, list: null, since: null, seq: 0 } : await reader.statusAt(number, atMs, scope, this.lastSeq);
    return { phone: formatDigits(number), at: new Date(atMs).toISOString(), ...answer };
  }

  /**
   * Resolves once the files the first history query reads (the listing of history/, the packs'
   * indices) have been read ahead; started at open by an engine with a data directory. A query
   * made before waits for the same reads and answers the same. Never rejects.
   */
  warmHistory(): Promise<void> {
    const reader = this.source.kind === 'memory' || this.source.dataDir === null ? null : this.readerOfHistory();
    this.historyWarming ??= reader === null ? Promise.resolve() : reader.warm();
    return this.historyWarming;
  }

  private readerOfHistory(): HistoryReader | null {
    if (this.source.kind === 'memory') return null;
    const dataDir = historyDataDir(this.source.dataDir);
    this.historyReader ??= new HistoryReader(dataDir);
    return this.historyReader;
  }

  /**
   * SHA-256 (hex) of the whole state: every non-empty list with its numbers. Two engines holding the
   * same numbers in the same lists have the same digest (checks after reloads, replicas, followers).
   */
  digest(): string {
    this.assertOpen();
    return stateDigest(this.store);
  }

  /** Refuses further calls, then closes the source: stops following (a follower), or flushes and snapshots (a durable engine). */
  close(): Promise<void> {
    this.closing ??= this.shutDown();
    return this.closing;
  }

  private async shutDown(): Promise<void> {
    this.closed = true;
    this.seqWaiters.rejectAll(new IdncError('CLOSED', 'this idnc instance has been closed'));
    // Nothing of the engine's reads its directory once it is closed.
    await this.historyWarming;
    await this.source.close();
  }

  // --- Members of one kind only, typed on DurableDnc or DncFollower alone (views.ts). ---

  /** The data directory, resolved (a durable engine or a follower). */
  get dataDir(): string {
    const dataDir = this.source.dataDir;
    assert(dataDir !== null, `dataDir: ${KIND_NAMES.memory} has no data directory`);
    return dataDir;
  }

  /** Writes a snapshot of the current state now (no-op when nothing changed since the last one). */
  async snapshot(): Promise<void> {
    this.assertOpen();
    await this.sourceOf('durable', 'snapshot').snapshot();
  }

  /** Milliseconds during which a change acknowledged by the writer may not be visible here (see follower.ts). */
  get lagMs(): number {
    return this.sourceOf('follower', 'lagMs').lagMs;
  }

  /** lagMs is above staleAfterMs (as of the last check or poll tick). */
  get stale(): boolean {
    return this.sourceOf('follower', 'stale').stale;
  }

  /** 'stale' / 'fresh' get the lag in ms; 'applied' gets the new lastSeq after each batch of records. */
  on(event: FollowerEvent, listener: (value: number) => void): this {
    this.sourceOf('follower', 'on').on(event, listener);
    return this;
  }

  off(event: FollowerEvent, listener: (value: number) => void): this {
    this.sourceOf('follower', 'off').off(event, listener);
    return this;
  }

  /**
   * Reads the data directory now, as a poll would, and resolves once that read is done: for code
   * that knows the writer has just written (the fault simulator drives its followers with it).
   */
  checkNow(): Promise<void> {
    return this.sourceOf('follower', 'checkNow').checkNow();
  }

  /** The source, if it is of `kind`: the types offer a kind's members on that kind only, so another is a bug. */
  private sourceOf<K extends SourceKind>(kind: K, member: string): Extract<Source, { kind: K }> {
    const source = this.source;
    if (source.kind !== kind) assert(false, `${member}: only ${KIND_NAMES[kind]} has it, not ${KIND_NAMES[source.kind]}`);
    return source as Extract<Source, { kind: K }>;
  }

  private assertOpen(): void {
    if (this.closed) throw new IdncError('CLOSED', 'this idnc instance has been closed');
  }

  private async change(operation: ChangeOperation, phones: PhoneListInput, options: WriteOptions): Promise<WriteResult> {
    this.assertOpen();
    const address = checkListAddress(options);
    const list = parsePhoneInput(phones);
    requireValid(list, options.ignoreInvalid === true);
    const meta = checkChangeMeta(options, Date.now());
    const sorted = list.numbers.slice();
    if (sorted.length > 1) sorted.sort();
    const { changed, seq } = await this.sink.commit(operation, address, sorted, options.keyId ?? null, () => this.applyChange(operation, address, sorted), meta);
    return { changed, skipped: list.invalidCount, invalid: list.invalid, seq };
  }

  private async changeNumbers(operation: ChangeOperation, numbers: Float64Array, options: WriteOptions): Promise<WriteResult & { distinct: number }> {
    this.assertOpen();
    const address = checkListAddress(options);
    const meta = checkChangeMeta(options, Date.now());
    const sorted = sortUniqueNumbers(numbers);
    checkImportCount(meta, sorted.length);
    const { changed, seq } = await this.sink.commit(operation, address, sorted, options.keyId ?? null, () => this.applyChange(operation, address, sorted), meta);
    return { changed, skipped: 0, invalid: [], seq, distinct: sorted.length };
  }

  /** Applies a validated change of sorted numbers to memory; returns how many numbers changed. */
  private applyChange(operation: ChangeOperation, address: ListAddress, sorted: Float64Array): number {
    if (operation === 'drop') return this.store.dropList(address);
    return this.store.change(address, sorted, operation === 'add');
  }
}

/** An instant given as ISO 8601 text with a zone, ms since the epoch, or a Date; INVALID_PARAMETER otherwise. */
function instantOf(at: string | number | Date): number {
  const text = typeof at === 'string' ? at.trim() : '';
  const ms = at instanceof Date ? at.getTime() : typeof at === 'number' ? at : ISO_INSTANT.test(text) ? Date.parse(text) : NaN;
  if (!Number.isSafeInteger(ms) || ms < 0) {
    throw new IdncError('INVALID_PARAMETER', `invalid at ${JSON.stringify(String(at).slice(0, 40))}: expected an ISO 8601 time with a zone, like 2026-03-01T15:04:05Z`);
  }
  return ms;
}

/** The data directory history is read from; a follower of a NATS stream has none (docs/replication.md). */
function historyDataDir(dataDir: string | null): string {
  if (dataDir === null) throw new IdncError('HISTORY_NOT_KEPT', 'this instance follows a replicated stream and keeps no log files: ask the writer (or a follower of its data directory) for the history');
  return dataDir;
}
