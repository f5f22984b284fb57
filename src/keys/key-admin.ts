// The operations behind `idnc keys create|list|revoke` and the first start of `idnc serve`: each is
// one locked read-modify-write of keys.json, so they are safe while a server runs on the directory
// (the server only reads the file and picks the change up by itself).

import { FIRST_KEY_ORGANISATION, KEY_RATE_LIMIT_PER_SECOND_DEFAULT, KEYS_FILE_FORMAT_VERSION } from '../constants.js';
import { generateKey, isKeyId } from './key-format.js';
import { unlink } from 'node:fs/promises';
import { keysFilePath, readKeysFile, withKeysLock, writeKeysFile } from './key-file.js';
import { listDataDir } from '../persist/data-dir.js';
import { checkName, checkOrg, isActive, KeyInputError, KeysFileError, type KeyRecord, type KeysFile, type Scope } from './key-records.js';

export interface CreateKeyRequest {
  readonly org: string;
  readonly scopes: readonly Scope[];
  readonly projects?: readonly string[];
  readonly name?: string;
  /** Requests per second (0 = unlimited); default KEY_RATE_LIMIT_PER_SECOND_DEFAULT. */
  readonly rateLimit?: number;
}

export interface CreatedKey {
  /** The secret key: shown once, never stored. */
  readonly key: string;
  readonly record: KeyRecord;
}

const EMPTY: KeysFile = { format: KEYS_FILE_FORMAT_VERSION, keys: [] };

function newRecord(request: CreateKeyRequest, existing: readonly KeyRecord[]): CreatedKey {
  const org = checkOrg(request.org);
  const name = request.name === undefined ? null : checkName(request.name);
  if (name !== null && existing.some((r) => r.name === name && isActive(r))) {
    throw new KeyInputError(`a key named ${JSON.stringify(name)} already exists; revoke it or pick another name`);
  }
  if (request.scopes.length === 0) throw new KeyInputError('a key needs at least one scope');
  if (request.projects !== undefined && (request.scopes.includes('admin') || request.scopes.includes('operator'))) {
    throw new KeyInputError('a key limited to projects cannot have the admin or operator scope (they cover a whole organisation or the server): give it read,write');
  }
  let generated = generateKey();
  while (existing.some((r) => r.id === generated.id)) generated = generateKey();
  const record: KeyRecord = {
    id: generated.id,
    name,
    org,
    scopes: [...request.scopes],
    ...(request.projects === undefined ? {} : { projects: [...request.projects] }),
    rateLimit: request.rateLimit ?? KEY_RATE_LIMIT_PER_SECOND_DEFAULT,
    createdAt: new Date().toISOString(),
    revokedAt: null,
    hash: generated.hash,
  };
  return { key: generated.key, record };
}

export async function createKey(dataDir: string, request: CreateKeyRequest): Promise<CreatedKey> {
  const path = keysFilePath(dataDir);
  return withKeysLock(path, async () => {
    const file = (await readKeysFile(path)) ?? EMPTY;
    const created = newRecord(request, file.keys);
    await writeKeysFile(path, { ...file, keys: [...file.keys, created.record] });
    return created;
  });
}

/**
 * Creates the admin key of organisation `default` when there is no key file at all, but only in a
 * new data directory: where there is data, a missing key file was deleted or lost, and a fresh
 * admin key would quietly replace every key the clients hold, so the start is refused instead.
 */
export async function ensureFirstKey(dataDir: string): Promise<CreatedKey | undefined> {
  const path = keysFilePath(dataDir);
  return withKeysLock(path, async () => {
    if ((await readKeysFile(path)) !== undefined) return undefined;
    const { segments, snapshots } = await listDataDir(dataDir);
    if (segments.length > 0 || snapshots.length > 0) {
      throw new KeysFileError(
        `${path} is missing, but ${dataDir} holds data: no existing key would work and a new admin key would replace them all. ` +
          `Restore keys.json from a backup; if this directory never had keys (an offline idnc import filled it), create the first one: ` +
          `idnc keys create --org default --scopes admin,operator --data-dir ${dataDir}`,
      );
    }
    const created = newRecord({ org: FIRST_KEY_ORGANISATION, scopes: ['admin', 'operator'], name: 'admin' }, []);
    await writeKeysFile(path, { ...EMPTY, keys: [created.record] });
    return created;
  });
}

/**
 * Undoes ensureFirstKey when the server could not start and so never showed the key: the next
 * start then creates (and shows) a new one. Leaves the file alone if anything else was added.
 */
export async function forgetUnshownFirstKey(dataDir: string, created: CreatedKey): Promise<void> {
  const path = keysFilePath(dataDir);
  await withKeysLock(path, async () => {
    const keys = (await readKeysFile(path))?.keys;
    if (keys?.length === 1 && keys[0]!.id === created.record.id) await unlink(path);
  });
}

export async function listKeys(dataDir: string): Promise<readonly KeyRecord[]> {
  return (await readKeysFile(keysFilePath(dataDir)))?.keys ?? [];
}

/** Revokes the key with this id, or the one active key with this name. */
export async function revokeKey(dataDir: string, idOrName: string): Promise<KeyRecord> {
  const path = keysFilePath(dataDir);
  return withKeysLock(path, async () => {
    const file = (await readKeysFile(path)) ?? EMPTY;
    const target = findKey(file.keys, idOrName);
    if (!isActive(target)) throw new KeyInputError(`key ${target.id} was already revoked at ${target.revokedAt}`);
    const revoked: KeyRecord = { ...target, revokedAt: new Date().toISOString() };
    await writeKeysFile(path, { ...file, keys: file.keys.map((r) => (r.id === target.id ? revoked : r)) });
    return revoked;
  });
}

/** Sets the requests per second (0 = unlimited) of the key with this id, or the one active key with this name. */
export async function setRateLimit(dataDir: string, idOrName: string, rateLimit: number): Promise<KeyRecord> {
  const path = keysFilePath(dataDir);
  return withKeysLock(path, async () => {
    const file = (await readKeysFile(path)) ?? EMPTY;
    const target = findKey(file.keys, idOrName);
    const changed: KeyRecord = { ...target, rateLimit };
    await writeKeysFile(path, { ...file, keys: file.keys.map((r) => (r.id === target.id ? changed : r)) });
    return changed;
  });
}

function findKey(keys: readonly KeyRecord[], idOrName: string): KeyRecord {
  if (isKeyId(idOrName)) {
    const byId = keys.find((r) => r.id === idOrName);
    if (byId !== undefined) return byId;
  }
  const named = keys.filter((r) => r.name === idOrName);
  const active = named.filter(isActive);
  if (active.length === 1) return active[0]!;
  if (named.length > 0 && active.length === 0) return named[named.length - 1]!;
  if (active.length > 1) throw new KeyInputError(`several keys are named ${JSON.stringify(idOrName)}; revoke by id`);
  throw new KeyInputError(`no key with id or name ${JSON.stringify(idOrName)}; see idnc keys list`);
}
