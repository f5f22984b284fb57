// The engine: the object a dialer or the server holds. It validates input, applies changes to the
// in-memory store and answers lookups. Reads are synchronous local calls; writes return a promise
// that resolves once the change is applied (and, with a data directory, durable).

import { IdncError } from './errors.js';
import type { EngineLogger } from './engine-logger.js';
import type { FsyncMode } from './persist/log-writer.js';
import { formatDigits, isValidNumber, isValidSplit } from './phone/digits.js';
import { AREA_REST_MODULUS } from './constants.js';
import { parsePhone, parsePhoneInput, requireValid, type PhoneListInput } from './phone/phone-list.js';
import { DncStore, listAreaNumbers } from './store/dnc-store.js';
import { checkListAddress, type ListAddress } from './store/list-id.js';
import { blockingCodes, blockingListIn, isBlockedNumber, resolveLists, scrubNumbers, type BlockingList } from './store/lookup.js';
import type { InvalidEntry } from './errors.js';
import { stateDigest } from './persist/state-digest.js';
import { SeqWaiters } from './seq-waiters.js';
import type { DncFollower, DncFollowerOptions } from './dnc-follower.js';
import { sortUniqueNumbers } from './bulk/sort-numbers.js';

// The number path of isBlocked reads these through module-local names: V8 loads an imported binding
// from its module cell, with a hole check, at every use in optimised code, where a module's own
// const is folded into the code (what this and the rest of the number path saved: docs/design.md).
const REST_MODULUS = AREA_REST_MODULUS;
const isValidSplitNumber = isValidSplit;

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

export type ChangeOperation = 'add' | 'remove';

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
  /** 'open', 'unwritable' (disk full, probing), 'failed' (fsync failed) or 'closed'; 'read-only' for a follower. */
  readonly writerState: string;
}

export interface EngineStats {
  readonly lists: readonly ListStats[];
  readonly log: LogStats | null;
}

export class Dnc {
  /** Replaced whole (never mutated half-way) when a read-only follower reloads from a snapshot. */
  protected store = new DncStore();
  private closed = false;
  private readonly seqWaiters = new SeqWaiters();

  /** Seq of the last change applied to this instance's memory (0 for a purely in-memory engine). */
  get lastSeq(): number {
    return 0;
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

  /** Subclasses call this whenever `lastSeq` grows. */
  protected seqAdvanced(): void {
    this.seqWaiters.advance(this.lastSeq);
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
    // whatever else the process checks: when both paths lived here, string checks made V8 compile
    // this method with the digit parser inlined, too big to inline anywhere, and a number lookup
    // became a call (measured at 1M numbers: 62-66 ns per lookup after a mix of string and number
    // checks, 32-37 ns otherwise).
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

  /** Operational figures for monitoring: read-only, computed on each call (a metrics scrape). */
  stats(): EngineStats {
    const lists: ListStats[] = [];
    for (const [address, set] of this.store.lists()) lists.push({ org: address.org, projId: address.projId, numbers: set.size });
    return { lists, log: null };
  }

  /**
   * SHA-256 (hex) of the whole state: every non-empty list with its numbers. Two engines holding the
   * same numbers in the same lists have the same digest (checks after reloads, replicas, followers).
   */
  digest(): string {
    this.assertOpen();
    return stateDigest(this.store);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.seqWaiters.rejectAll(new IdncError('CLOSED', 'this idnc instance has been closed'));
  }

  protected assertOpen(): void {
    if (this.closed) throw new IdncError('CLOSED', 'this idnc instance has been closed');
  }

  private async change(operation: ChangeOperation, phones: PhoneListInput, options: WriteOptions): Promise<WriteResult> {
    this.assertOpen();
    const address = checkListAddress(options);
    const list = parsePhoneInput(phones);
    requireValid(list, options.ignoreInvalid === true);
    const sorted = list.numbers.slice();
    if (sorted.length > 1) sorted.sort();
    const { changed, seq } = await this.commitChange(operation, address, sorted, options.keyId ?? null);
    return { changed, skipped: list.invalidCount, invalid: list.invalid, seq };
  }

  private async changeNumbers(operation: ChangeOperation, numbers: Float64Array, options: WriteOptions): Promise<WriteResult & { distinct: number }> {
    this.assertOpen();
    const address = checkListAddress(options);
    const sorted = sortUniqueNumbers(numbers);
    const { changed, seq } = await this.commitChange(operation, address, sorted, options.keyId ?? null);
    return { changed, skipped: 0, invalid: [], seq, distinct: sorted.length };
  }

  /**
   * Makes a validated change take effect. In memory it is applied at once; a durable engine
   * overrides this to log the change first and apply it only once it is on stable storage.
   */
  protected async commitChange(
    operation: ChangeOperation,
    address: ListAddress,
    sorted: Float64Array,
    keyId: string | null,
  ): Promise<{ changed: number; seq: number }> {
    void keyId;
    return { changed: this.applyChange(operation, address, sorted), seq: 0 };
  }

  /** Applies a validated change of sorted numbers to memory; returns how many numbers changed. */
  protected applyChange(operation: ChangeOperation, address: ListAddress, sorted: Float64Array): number {
    if (operation === 'add') return this.store.listForWrite(address).addSorted(sorted);
    const list = this.store.list(address);
    return list === undefined ? 0 : list.removeSorted(sorted);
  }
}

/** How a durable engine flushes its log before acknowledging (see the durability design). */
export type { FsyncMode } from './persist/log-writer.js';
export type { EngineLogger } from './engine-logger.js';

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
}

/**
 * Opens an engine. Without a data directory it is purely in memory; with one it recovers the
 * directory's snapshot and log, takes the writer lock and logs every change before it is applied
 * (see src/durable-dnc.ts); with `readOnly: true` it follows a live data directory without writing
 * to it (see src/dnc-follower.ts). Both are loaded lazily: they extend Dnc, so a static import here
 * would be a module cycle.
 */
export async function openDnc(options: DncFollowerOptions & { readOnly: true }): Promise<DncFollower>;
export async function openDnc(options?: OpenDncOptions): Promise<Dnc>;
export async function openDnc(options: OpenDncOptions = {}): Promise<Dnc> {
  if (options.dataDir === undefined) return new Dnc();
  if (options.readOnly === true) {
    const { DncFollower } = await import('./dnc-follower.js');
    return DncFollower.open({ ...options, dataDir: options.dataDir });
  }
  const { DurableDnc } = await import('./durable-dnc.js');
  return DurableDnc.open({ ...options, dataDir: options.dataDir });
}
