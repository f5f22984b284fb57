// API keys on every host, through the NATS KV bucket `<stream>_KEYS` (key-bucket.ts says what it
// holds and why). Two roles:
//   publish  the writer's host: keys.json is the truth. Whenever the file changes (`idnc keys ...`
//            rewrites it, the same poll as the KeyStore's), when NATS comes back, and on every check
//            while something is unpublished, the bucket is brought in line with the file.
//   follow   every other host (a follower on another host, a standby): a KV watch keeps a copy of
//            the bucket; each change is written to the local keys.json (atomically, mode 0600,
//            under the keys lock) and the KeyStore reloads it, so a restart without NATS starts with
//            the last keys seen. Until the writer has published (`published` entry), the local
//            keys.json stays as it is.
// NATS is never waited for: the server starts with its keys.json and the link comes up behind.
// The watch is the fast path; every KEY_REPLICATION_CHECK_MS a host also asks the bucket for its
// last revision and reads what the watch has not delivered straight from the bucket's stream, so a
// watch stalled by a dead NATS node holds nothing back. Health: a host says whether its keys are
// current (found equal to the bucket within KEY_REPLICATION_STALE_AFTER_MS) and where they came
// from, for /healthz.

import { watchFile, unwatchFile, type Stats } from 'node:fs';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { Kvm, type Bucket, type KvWatchEntry } from '@nats-io/kv';
import { KEY_REPLICATION_CHECK_MS, KEY_REPLICATION_FETCH_MAX, KEY_REPLICATION_REQUEST_MS, KEY_REPLICATION_STALE_AFTER_MS, KEYS_FILE_FORMAT_VERSION, KEYS_RELOAD_POLL_MS, REPLICATION_REPLICAS_DEFAULT } from '../constants.js';
import type { EngineLogger } from '../logger.js';
import { keysFilePath, readKeysFile, withKeysLock, writeKeysFile } from '../keys/key-file.js';
import type { KeyRecord } from '../keys/key-records.js';
import type { WatchedKeyStore } from '../keys/key-store.js';
import { decodeRecord, encodeRecord, idOfEntry, keysBucket, planPublish, PUBLISHED_ENTRY, recordEntry, recordsOf, type BucketChange, type SeenEntry } from './key-bucket.js';

export type KeyReplicationRole = 'publish' | 'follow';

export interface KeyReplicationOptions {
  readonly servers: readonly string[];
  /** The writer's stream; the bucket is `<stream>_KEYS`. */
  readonly stream: string;
  readonly role: KeyReplicationRole;
  /** The directory of this host's keys.json. */
  readonly dataDir: string;
  readonly keys: Pick<WatchedKeyStore, 'store' | 'reload'>;
  readonly logger: EngineLogger;
  /** Copies of the bucket when the writer creates it (default REPLICATION_REPLICAS_DEFAULT). */
  readonly replicas?: number;
}

/** The `keys` field of /healthz. */
export interface KeysHealth {
  /** 'nats': the keys in use came from the bucket in this process; 'file': from keys.json. */
  readonly source: 'nats' | 'file';
  /** True when the keys were not found equal to the bucket's within KEY_REPLICATION_STALE_AFTER_MS. */
  readonly stale: boolean;
  /** When they were last found equal (ISO 8601), null if never since the start. */
  readonly lastUpdateAt: string | null;
}

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms).unref());

export class KeyReplication {
  private readonly path: string;
  private readonly bucket: string;
  private nc: NatsConnection | null = null;
  private kv: Bucket | null = null;
  private watcher: { stop(): void } | null = null;
  /** The bucket's entries as the watch delivered them (and as this host's own writes left them). */
  private seen = new Map<string, SeenEntry>();
  private published = false;
  /** Highest revision the current watch delivered: the copy is current once it reaches the bucket's last. */
  private watchedRevision = 0;
  private watching = false;
  /** The current watch has delivered every value the bucket held when it started. */
  private loaded = false;
  /** Since when the watch has been behind the bucket (a watch that stalls is started again). */
  private behindSince: number | null = null;
  private connected = false;
  private closed = false;
  private currentAt: number | null = null;
  /** When the last check that found nothing of the bucket left to copy began (follow). */
  private caughtUpAt: number | null = null;
  private fromNats = false;
  /** publish: the file may differ from the bucket; follow: the copy is not written yet. */
  private dirty = true;
  private work: Promise<void> = Promise.resolve();
  private checking = false;
  private lastProblem = '';
  private readonly timer: NodeJS.Timeout;
  private readonly running: Promise<void>;
  private readonly onFileChange = (current: Stats, previous: Stats): void => {
    if (current.mtimeMs === previous.mtimeMs && current.ino === previous.ino && current.size === previous.size) return;
    this.dirty = true;
    this.schedule();
  };

  private constructor(private readonly options: KeyReplicationOptions) {
    this.path = keysFilePath(options.dataDir);
    this.bucket = keysBucket(options.stream);
    this.timer = setInterval(() => void this.check(), KEY_REPLICATION_CHECK_MS);
    this.timer.unref();
    if (options.role === 'publish') watchFile(this.path, { interval: KEYS_RELOAD_POLL_MS, persistent: false }, this.onFileChange);
    this.running = this.run();
  }

  /** Starts at once; the link to NATS comes up in the background (and again after every loss). */
  static start(options: KeyReplicationOptions): KeyReplication {
    return new KeyReplication(options);
  }

  health(): KeysHealth {
    const fresh = this.currentAt !== null && this.connected && Date.now() - this.currentAt <= KEY_REPLICATION_STALE_AFTER_MS;
    return {
      source: this.fromNats ? 'nats' : 'file',
      stale: !fresh,
      lastUpdateAt: this.currentAt === null ? null : new Date(this.currentAt).toISOString(),
    };
  }

  /**
   * follow: a check begun at or after `time` found keys.json holding all the bucket holds (or the
   * bucket holding nothing published): a host taking over as the writer may publish from then on.
   */
  caughtUpSince(time: number): boolean {
    return this.caughtUpAt !== null && this.caughtUpAt >= time;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    if (this.options.role === 'publish') unwatchFile(this.path, this.onFileChange);
    this.watcher?.stop();
    await this.nc?.close().catch(() => undefined);
    await this.running;
    await this.work;
  }

  /** Connects, opens the bucket and watches it; after any failure, the same again a moment later. */
  private async run(): Promise<void> {
    while (!this.closed) {
      try {
        if (this.nc === null) await this.connect();
        this.kv ??= await this.openBucket();
        await this.watch(this.kv);
      } catch (error) {
        this.problem(`API keys: NATS bucket ${this.bucket} not reachable, keeping the keys this host has: ${(error as Error).message}`);
      }
      if (!this.closed) await pause(KEY_REPLICATION_CHECK_MS);
    }
  }

  private async connect(): Promise<void> {
    const nc = await connect({
      servers: [...this.options.servers],
      name: `idnc keys (${this.options.role})`,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      timeout: KEY_REPLICATION_REQUEST_MS,
    });
    if (this.closed) {
      await nc.close();
      return;
    }
    this.nc = nc;
    this.connected = true;
    void this.watchStatus(nc);
  }

  private async watchStatus(nc: NatsConnection): Promise<void> {
    for await (const status of nc.status()) {
      if (status.type === 'disconnect') this.connected = false;
      if (status.type === 'reconnect') {
        this.connected = true;
        void this.check();
      }
    }
    this.connected = false;
  }

  private async openBucket(): Promise<Bucket> {
    const kvm = new Kvm(jetstream(this.nc!, { timeout: KEY_REPLICATION_REQUEST_MS }));
    if (this.options.role === 'publish') {
      return (await kvm.create(this.bucket, { replicas: this.options.replicas ?? REPLICATION_REPLICAS_DEFAULT, history: 1 })) as Bucket;
    }
    const kv = (await kvm.open(this.bucket)) as Bucket;
    await kv.status(); // fails while the writer has not created the bucket
    return kv;
  }

  /** Follows every entry from the bucket's current values on; returns when the watch ends. */
  private async watch(kv: Bucket): Promise<void> {
    const watcher = await kv.watch();
    this.watcher = watcher;
    this.seen = new Map();
    this.published = false;
    this.watchedRevision = 0;
    this.watching = true;
    this.loaded = false;
    this.behindSince = null;
    this.lastProblem = '';
    void this.check();
    try {
      for await (const entry of watcher) this.take(entry);
    } finally {
      this.watching = false;
      this.watcher = null;
    }
  }

  private take(entry: KvWatchEntry): void {
    this.watchedRevision = Math.max(this.watchedRevision, entry.revision);
    if (entry.isUpdate) this.loaded = true;
    if (entry.key === PUBLISHED_ENTRY) {
      this.published = entry.operation === 'PUT';
    } else {
      const id = idOfEntry(entry.key);
      if (id === undefined) return;
      const known = this.seen.get(id);
      if (known !== undefined && known.revision >= entry.revision) return; // this host's own write, already counted
      this.seen.set(id, { record: this.recordOf(entry), revision: entry.revision });
    }
    this.dirty = true;
    if (entry.isUpdate) this.schedule();
  }

  private recordOf(entry: KvWatchEntry): KeyRecord | null {
    if (entry.operation !== 'PUT') return null;
    try {
      return decodeRecord(entry.value, `NATS bucket ${this.bucket} entry ${entry.key}`);
    } catch (error) {
      // Only idnc writes the bucket; a value it cannot read leaves no key valid under that id.
      this.options.logger.error(`API keys: ${(error as Error).message}; no key with that id is accepted`);
      return null;
    }
  }

  /** Asks the bucket for its last revision: the copy is current when the watch has reached it. */
  private async check(): Promise<void> {
    if (this.checking || this.closed || this.kv === null || !this.watching || !this.connected) return;
    this.checking = true;
    const startedAt = Date.now();
    try {
      const last = (await this.kv.status()).streamInfo.state.last_seq;
      if (this.loaded && this.watchedRevision < last && last - this.watchedRevision <= KEY_REPLICATION_FETCH_MAX) await this.fetchUpTo(this.kv, last);
      if (this.watchedRevision < last) {
        this.behindSince ??= Date.now();
        if (Date.now() - this.behindSince > KEY_REPLICATION_STALE_AFTER_MS) this.watcher?.stop();
        return;
      }
      this.behindSince = null;
      this.loaded = true;
      if (this.dirty) {
        this.schedule();
        await this.work;
      }
      if (!this.dirty) this.currentAt = Date.now();
      if (!this.dirty || !this.published) this.caughtUpAt = startedAt;
    } catch (error) {
      this.problem(`API keys: cannot check NATS bucket ${this.bucket}: ${(error as Error).message}`);
    } finally {
      this.checking = false;
    }
  }

  /**
   * Reads the entries the watch has not delivered straight from the bucket's stream, by revision: a
   * watch whose consumer sat on a NATS node that died delivers nothing until the client notices
   * (seconds), which would hold a revoke back for longer than it may take.
   */
  private async fetchUpTo(kv: Bucket, last: number): Promise<void> {
    for (let revision = this.watchedRevision + 1; revision <= last; revision++) {
      const stored = await kv.jsm.streams.getMessage(kv.stream, { seq: revision });
      // Gone: a later value of the same entry replaced it (one value is kept per entry), read below.
      if (stored !== null) this.take(Object.assign(kv.smToEntry(stored), { isUpdate: true }));
    }
    this.watchedRevision = Math.max(this.watchedRevision, last);
    if (this.dirty) this.schedule();
  }

  /** Runs one publish or copy after the one under way (they never overlap). */
  private schedule(): void {
    this.work = this.work.then(() => (this.options.role === 'publish' ? this.publish() : this.copy())).catch((error: unknown) => {
      this.problem(`API keys: ${(error as Error).message}`);
    });
  }

  /** follow: writes the bucket's records to keys.json and reloads the KeyStore from it. */
  private async copy(): Promise<void> {
    if (!this.dirty || this.closed || !this.loaded || !this.published) return;
    this.dirty = false;
    const records = recordsOf(this.seen);
    const current = await readKeysFile(this.path).catch(() => undefined);
    const same = current !== undefined && current.keys.length === records.length && current.keys.every((record, i) => encodeRecord(record) === encodeRecord(records[i]!));
    try {
      if (!same) await withKeysLock(this.path, () => writeKeysFile(this.path, { format: KEYS_FILE_FORMAT_VERSION, keys: records }));
      await this.options.keys.reload();
    } catch (error) {
      // A revoke must take effect even when the disk refuses it; the file catches up at the next change.
      this.options.keys.store.replace(records);
      this.options.logger.error(`API keys: applied from NATS but not written to ${this.path}: ${(error as Error).message}`);
    }
    if (!this.fromNats || !same) this.options.logger.info(`API keys: ${records.length} keys from NATS bucket ${this.bucket}`);
    this.fromNats = true;
  }

  /** publish: brings the bucket in line with keys.json (changes with compare-and-set on the revision seen). */
  private async publish(): Promise<void> {
    if (!this.dirty || this.closed || this.kv === null || !this.watching || !this.loaded) return;
    const file = await readKeysFile(this.path);
    if (file === undefined) {
      this.problem(`API keys: ${this.path} is missing; the keys in NATS bucket ${this.bucket} are left as they are`);
      return;
    }
    this.dirty = false;
    const changes = planPublish(file.keys, this.seen);
    try {
      for (const change of changes) await this.apply(this.kv, change);
      if (!this.published) await this.kv.put(PUBLISHED_ENTRY, JSON.stringify({ format: KEYS_FILE_FORMAT_VERSION }));
      this.published = true;
    } catch (error) {
      this.dirty = true;
      throw error;
    }
    if (changes.length > 0) {
      this.options.logger.info(`API keys: ${changes.length} changes published to NATS bucket ${this.bucket}`);
      this.dirty = true; // confirm against the bucket at the next check
    }
  }

  private async apply(kv: Bucket, change: BucketChange): Promise<void> {
    switch (change.kind) {
      case 'create': {
        const revision = await kv.create(recordEntry(change.record.id), encodeRecord(change.record));
        this.seen.set(change.record.id, { record: change.record, revision });
        return;
      }
      case 'update': {
        const revision = await kv.update(recordEntry(change.record.id), encodeRecord(change.record), change.revision, KEY_REPLICATION_REQUEST_MS);
        this.seen.set(change.record.id, { record: change.record, revision });
        return;
      }
      case 'delete':
        await kv.delete(recordEntry(change.id), { previousSeq: change.revision });
        this.seen.set(change.id, { record: null, revision: change.revision }); // the watch brings the delete's own revision
        return;
      case 'revoke-here':
        await this.revokeHere(change.id, change.revokedAt);
        return;
    }
  }

  /** A revoke made while this host was not the writer (another writer, a failover): revoked here too. */
  private async revokeHere(id: string, revokedAt: string): Promise<void> {
    this.options.logger.warn(`API keys: key ${id} was revoked at ${revokedAt} (NATS bucket ${this.bucket}) but is active in ${this.path}: revoking it here too`);
    await withKeysLock(this.path, async () => {
      const file = await readKeysFile(this.path);
      if (file === undefined) return;
      const keys = file.keys.map((record) => (record.id === id && record.revokedAt === null ? { ...record, revokedAt } : record));
      await writeKeysFile(this.path, { ...file, keys });
    });
    await this.options.keys.reload();
  }

  /** Logs a problem once, not at every retry. */
  private problem(message: string): void {
    if (message === this.lastProblem || this.closed) return;
    this.lastProblem = message;
    this.options.logger.warn(message);
  }
}
