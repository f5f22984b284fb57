// The server's view of the keys: an in-memory index by key id, so authenticating a request is one
// map lookup, one SHA-256 and one constant-time compare. The server never writes keys.json after
// the first start; it polls the file's stat and re-reads it when it changes (a rename by the `keys`
// commands changes the inode), so revocations take effect within KEYS_RELOAD_POLL_MS.

import { timingSafeEqual } from 'node:crypto';
import { unwatchFile, watchFile, type Stats } from 'node:fs';
import { KEYS_RELOAD_POLL_MS } from '../constants.js';
import type { EngineLogger } from '../engine.js';
import { hashKey, keyIdOf, keyMatchesHash } from './key-format.js';
import { isActive, type KeyRecord } from './key-records.js';
import { keysFilePath, readKeysFile } from './key-file.js';

/** Compared against when the id is unknown, so unknown and wrong keys cost the same. */
const UNKNOWN_KEY_HASH = hashKey('idnc_unknown');

export class KeyStore {
  private byId = new Map<string, KeyRecord>();
  /**
   * Per key id, the full key that last matched its stored hash. A request presenting it again is
   * checked with one constant-time compare instead of a SHA-256 (a few µs per request on the hot
   * path). Memory only, like the request headers that carried it; emptied whenever the records
   * change, so a revoked or re-hashed key is checked against the file again.
   */
  private verified = new Map<string, Buffer>();

  constructor(records: readonly KeyRecord[] = []) {
    this.replace(records);
  }

  /** The active record a key belongs to, or undefined (unknown, revoked, malformed, wrong secret). */
  authenticate(key: string): KeyRecord | undefined {
    const id = keyIdOf(key);
    if (id === undefined) return undefined;
    const record = this.byId.get(id);
    const known = this.verified.get(id);
    if (known !== undefined && record !== undefined) {
      // keyIdOf accepted only ASCII keys of one fixed length: the buffers have equal lengths.
      if (timingSafeEqual(Buffer.from(key, 'latin1'), known)) return isActive(record) ? record : undefined;
    }
    const matches = keyMatchesHash(key, record?.hash ?? UNKNOWN_KEY_HASH);
    if (!matches || record === undefined) return undefined;
    this.verified.set(id, Buffer.from(key, 'latin1'));
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
