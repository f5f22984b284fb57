// What the NATS KV bucket `<stream>_KEYS` holds, and the rules for changing it, kept free of I/O so
// they can be tested alone. One KV key per API key (`key.<id>`), its value the record keys.json
// holds (hash, scopes, revokedAt...: never the secret), written field by field from a fixed list,
// so a field a hand edit added to keys.json never leaves the host. One entry per key rather than
// one document: each change is one small put, and JetStream orders the values of one KV key, so
// the last value a watcher sees for a key is the last one written; a writer changes an entry only
// with compare-and-set on the revision it has seen, and never turns a revoked record active again,
// so a revoke can be neither lost nor reordered behind an older create. The entry `published` is
// written once the writer's first full copy is in: before it, a bucket proves nothing, and a host
// keeps the keys.json it has.

import { KEYS_FILE_FORMAT_VERSION } from '../constants.js';
import { isActive, KeysFileError, parseKeysFile, type KeyRecord } from '../keys/key-records.js';

/** The bucket of the keys of the writer of `stream`. */
export function keysBucket(stream: string): string {
  return `${stream}_KEYS`;
}

/** Written by the writer after its first full copy of keys.json: from then on the bucket is the truth. */
export const PUBLISHED_ENTRY = 'published';
const RECORD_PREFIX = 'key.';

export function recordEntry(id: string): string {
  return `${RECORD_PREFIX}${id}`;
}

/** The key id of a record entry, or undefined for any other entry. */
export function idOfEntry(entry: string): string | undefined {
  return entry.startsWith(RECORD_PREFIX) ? entry.slice(RECORD_PREFIX.length) : undefined;
}

/** The fields of a record that leave the host, in a fixed order (so equal records encode equally). */
export function publicRecord(record: KeyRecord): KeyRecord {
  return {
    id: record.id,
    name: record.name,
    org: record.org,
    scopes: [...record.scopes],
    ...(record.projects === undefined ? {} : { projects: [...record.projects] }),
    ...(record.rateLimit === undefined ? {} : { rateLimit: record.rateLimit }),
    createdAt: record.createdAt,
    revokedAt: record.revokedAt,
    hash: record.hash,
  };
}

export function encodeRecord(record: KeyRecord): string {
  return JSON.stringify(publicRecord(record));
}

/** The record of an entry's value, checked as keys.json's records are; throws KeysFileError. */
export function decodeRecord(value: Uint8Array, where: string): KeyRecord {
  let data: unknown;
  try {
    data = JSON.parse(Buffer.from(value).toString('utf8'));
  } catch {
    throw new KeysFileError(`${where} is not valid JSON`);
  }
  const file = parseKeysFile(JSON.stringify({ format: KEYS_FILE_FORMAT_VERSION, keys: [data] }), where);
  return publicRecord(file.keys[0]!);
}

/** What this host last saw of one entry: its record (null once deleted) and its revision. */
export interface SeenEntry {
  readonly record: KeyRecord | null;
  readonly revision: number;
}

export type BucketChange =
  | { readonly kind: 'create'; readonly record: KeyRecord }
  | { readonly kind: 'update'; readonly record: KeyRecord; readonly revision: number }
  | { readonly kind: 'delete'; readonly id: string; readonly revision: number }
  /** The bucket holds a revoke that keys.json lacks: revoke here too, never undo it there. */
  | { readonly kind: 'revoke-here'; readonly id: string; readonly revokedAt: string };

/**
 * The changes that make the bucket hold what keys.json holds (the writer's host), except that a
 * revoke is final: a record revoked in the bucket and active in the file is revoked in the file.
 * A record the file no longer has is deleted from the bucket (no key with that id is valid anywhere).
 */
export function planPublish(file: readonly KeyRecord[], seen: ReadonlyMap<string, SeenEntry>): BucketChange[] {
  const changes: BucketChange[] = [];
  const inFile = new Set<string>();
  for (const record of file) {
    inFile.add(record.id);
    const entry = seen.get(record.id);
    if (entry === undefined || entry.record === null) {
      changes.push({ kind: 'create', record: publicRecord(record) });
    } else if (!isActive(entry.record) && isActive(record)) {
      changes.push({ kind: 'revoke-here', id: record.id, revokedAt: entry.record.revokedAt! });
    } else if (encodeRecord(entry.record) !== encodeRecord(record)) {
      changes.push({ kind: 'update', record: publicRecord(record), revision: entry.revision });
    }
  }
  for (const [id, entry] of seen) {
    if (entry.record !== null && !inFile.has(id)) changes.push({ kind: 'delete', id, revision: entry.revision });
  }
  return changes;
}

/** The records a host other than the writer's keeps, in keys.json's order (oldest first). */
export function recordsOf(seen: ReadonlyMap<string, SeenEntry>): KeyRecord[] {
  const records: KeyRecord[] = [];
  for (const entry of seen.values()) if (entry.record !== null) records.push(entry.record);
  return records.sort((a, b) => (a.createdAt === b.createdAt ? (a.id < b.id ? -1 : 1) : a.createdAt < b.createdAt ? -1 : 1));
}
