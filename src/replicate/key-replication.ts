// API keys on every host: the writer (`idnc serve --replicate`) puts the text of its keys.json
// (hashes, never a secret) into the JetStream KV bucket `<stream>_KEYS` whenever the file changes;
// a follower server (`idnc serve --follow`) watches that entry and lays the keys over its own
// keys.json: a key of the writer's replaces a local key of the same id (so a key revoked on the
// writer is revoked here), and keys only the local file has keep working. A follower that cannot
// reach NATS keeps the last keys it saw. One entry for the whole file keeps a change atomic and the
// check the same as for the file (parseKeysFile); it bounds the keys to what a KV value holds
// (about 1 MiB of keys.json, thousands of keys).

import { unwatchFile, watchFile, type Stats } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { Kvm, type KV } from '@nats-io/kv';
import { KEYS_RELOAD_POLL_MS, REPLICATION_REPLICAS_DEFAULT, REPLICATION_RETRY_MS, REPLICATION_STREAM_DEFAULT } from '../constants.js';
import type { FollowOptions, ReplicateOptions } from '../engine/types.js';
import { keysFilePath } from '../keys/key-file.js';
import { parseKeysFile, type KeyRecord } from '../keys/key-records.js';
import type { EngineLogger } from '../logger.js';
import { parseServers, StreamLink } from './stream-link.js';

/** The one KV entry holding the writer's keys.json. */
const KEYS_ENTRY = 'keys.json';

function keysBucket(stream: string): string {
  return `${stream}_KEYS`;
}

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Something that runs until closed. */
export interface KeyReplication {
  close(): Promise<void>;
}

/**
 * The writer's side: puts keys.json into the bucket now and after every change of the file,
 * retrying while NATS is unreachable (only the newest text is ever put).
 */
export function publishKeys(options: ReplicateOptions, dataDir: string, logger: EngineLogger): KeyReplication {
  const file = keysFilePath(dataDir);
  let closed = false;
  let wanted = 0;
  let link: StreamLink | null = null;
  let running: Promise<void> | null = null;
  const stream = options.stream ?? REPLICATION_STREAM_DEFAULT;
  const run = async (): Promise<void> => {
    while (!closed && wanted > 0) {
      const round = wanted;
      try {
        link ??= await StreamLink.open({ servers: parseServers(options.servers, 'replicate.servers'), stream, name: 'idnc keys' }, () => undefined);
        const kv = await new Kvm(link.nc).create(keysBucket(stream), { replicas: options.replicas ?? REPLICATION_REPLICAS_DEFAULT });
        const text = await readFile(file, 'utf8');
        parseKeysFile(text, file);
        await kv.put(KEYS_ENTRY, text);
        logger.info(`API keys published to ${keysBucket(stream)}`);
        if (wanted === round) wanted = 0;
      } catch (error) {
        logger.warn(`publishing the API keys failed (${(error as Error).message}); retrying`);
        await pause(REPLICATION_RETRY_MS);
      }
    }
    running = null;
  };
  const changed = (): void => {
    wanted++;
    running ??= run();
  };
  const onChange = (current: Stats, previous: Stats): void => {
    if (current.mtimeMs !== previous.mtimeMs || current.ino !== previous.ino || current.size !== previous.size) changed();
  };
  watchFile(file, { interval: KEYS_RELOAD_POLL_MS, persistent: false }, onChange);
  changed();
  return {
    close: async () => {
      closed = true;
      unwatchFile(file, onChange);
      await running;
      await link?.close();
    },
  };
}

/** A follower's side: the writer's keys as last seen in the bucket (none before the first). */
export class FollowedKeys implements KeyReplication {
  private records: readonly KeyRecord[] = [];
  private closed = false;
  private link: StreamLink | null = null;
  private stopWatching: (() => void) | null = null;
  private readonly following: Promise<void>;

  constructor(
    private readonly options: FollowOptions,
    private readonly logger: EngineLogger,
    private readonly onChange: () => void,
  ) {
    this.following = this.follow();
  }

  /** The writer's key records, to lay over the local keys.json. */
  readonly overlay = (): readonly KeyRecord[] => this.records;

  async close(): Promise<void> {
    this.closed = true;
    this.stopWatching?.();
    await this.link?.close();
    await this.following;
  }

  /** Watches the entry (again after any failure) until closed. */
  private async follow(): Promise<void> {
    const stream = this.options.stream ?? REPLICATION_STREAM_DEFAULT;
    let lastProblem = '';
    while (!this.closed) {
      try {
        this.link ??= await StreamLink.open({ servers: parseServers(this.options.servers, 'follow.servers'), stream, name: 'idnc keys follower' }, () => undefined);
        await this.watch(await new Kvm(this.link.nc).open(keysBucket(stream)), keysBucket(stream));
      } catch (error) {
        const problem = `following the API keys failed (${(error as Error).message}); keeping the last keys seen and retrying`;
        if (problem !== lastProblem && !this.closed) this.logger.warn(problem);
        lastProblem = problem;
      }
      if (!this.closed) await pause(REPLICATION_RETRY_MS);
    }
  }

  private async watch(kv: KV, bucket: string): Promise<void> {
    const entries = await kv.watch({ key: KEYS_ENTRY });
    this.stopWatching = () => entries.stop();
    if (this.closed) entries.stop();
    for await (const entry of entries) {
      if (entry.operation !== 'PUT') continue;
      try {
        this.records = parseKeysFile(entry.string(), `${bucket} entry`).keys;
      } catch (error) {
        this.logger.error(`the API keys in the bucket fail their checks, keeping the last ones: ${(error as Error).message}`);
        continue;
      }
      this.logger.info(`API keys of the writer received: ${this.records.length} keys`);
      this.onChange();
    }
  }
}
