// The server's view of the keys: an in-memory index by key id, so authenticating a request is one
// map lookup, one SHA-256 and one constant-time compare, and a key seen before one map lookup. The
// server never writes keys.json after the first start; it polls the file's stat and re-reads it
// when it changes (a rename by the `keys` commands changes the inode), so revocations take effect
// within KEYS_RELOAD_POLL_MS.

import { unwatchFile, watchFile, type Stats } from 'node:fs';
import { KEYS_RELOAD_POLL_MS } from '../constants.js';
import type { EngineLogger } from '../logger.js';
import { hashKey, keyIdOf, keyMatchesHash } from './key-format.js';
import { isActive, type KeyRecord } from './key-records.js';
import { keysFilePath, readKeysFile } from './key-file.js';

/** Compared against when the id is unknown, so unknown and wrong keys cost the same. */
const UNKNOWN_KEY_HASH = hashKey('idnc_unknown');

export class KeyStore {
  private byId = new Map<string, KeyRecord>();
  /**
   * Full keys that matched their stored hash, to their key id: a request presenting one again
   * costs one Map lookup instead of a regex, a SHA-256 and a compare (a few µs on the hot path).
   * Bounded by the number of records (one secret matches one id's hash). Memory only, like the
   * request headers that carried the keys; emptied whenever the records change, so a revoked or
   * re-hashed key is checked against the file again.
   *
   * Timing: the lookup hashes the whole presented string with V8's per-process seeded string hash
   * and compares characters only on a full hash match, so its time says nothing about how much of
   * a guess is right; it differs only between "exactly a valid key" (which the answer says anyway)
   * and everything else, which goes on to the SHA-256 and constant-time compare as before.
   */
  private verified = new Map<string, string>();

  constructor(records: readonly KeyRecord[] = []) {
    this.replace(records);
  }

  /** The active record a key belongs to, or undefined (unknown, revoked, malformed, wrong secret). */
  authenticate(key: string): KeyRecord | undefined {
    const knownId = this.verified.get(key);
    if (knownId !== undefined) {
      const known = this.byId.get(knownId)!;
      return isActive(known) ? known : undefined;
    }
    const id = keyIdOf(key);
    if (id === undefined) return undefined;
    const record = this.byId.get(id);
    const matches = keyMatchesHash(key, record?.hash ?? UNKNOWN_KEY_HASH);
    if (!matches || record === undefined) return undefined;
    this.verified.set(key, id);
    return isActive(record) ? record : undefined;
  }

  replace(records: readonly KeyRecord[]): void {
    const byId = new Map<string, KeyRecord>();
    for (const record of records) byId.set(record.id, record);
    this.byId = byId;
    this.verified = new Map();
  }

  get size(): number {
    return this.byId.size;
  }

  /** The name of the key with this id, revoked or not (the history names who made a change); null: it has none. */
  nameOf(id: string): string | null | undefined {
    return this.byId.get(id)?.name;
  }
}

export interface WatchedKeyStore {
  readonly store: KeyStore;
  /** Re-reads the file now (the poller calls it; tests may too). */
  reload(): Promise<void>;
  close(): void;
}

/**
 * Loads `<dataDir>/keys.json` and keeps the store in step with it. A file that fails its checks
 * keeps the previous keys (and is logged); a deleted file leaves no key valid.
 */
export async function openKeyStore(dataDir: string, logger: EngineLogger): Promise<WatchedKeyStore> {
  const path = keysFilePath(dataDir);
  const store = new KeyStore((await readKeysFile(path))?.keys ?? []);
  let reloading = Promise.resolve();
  const reload = (): Promise<void> => {
    reloading = reloading.then(async () => {
      try {
        const file = await readKeysFile(path);
        if (file === undefined) logger.warn(`${path} is gone: no API key is valid until it is recreated`);
        store.replace(file?.keys ?? []);
        logger.info(`API keys reloaded: ${store.size} keys`);
      } catch (error) {
        logger.error(`API keys not reloaded, keeping the previous ones: ${(error as Error).message}`);
      }
    });
    return reloading;
  };
  const onChange = (current: Stats, previous: Stats): void => {
    if (current.mtimeMs !== previous.mtimeMs || current.ino !== previous.ino || current.size !== previous.size) {
      void reload();
    }
  };
  watchFile(path, { interval: KEYS_RELOAD_POLL_MS, persistent: false }, onChange);
  return { store, reload, close: () => unwatchFile(path, onChange) };
}
