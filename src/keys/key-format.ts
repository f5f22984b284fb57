// The shape of an API key: `idnc_<id>_<secret>`. The id is public (listed, logged as keyId) and
// makes lookup O(1); the secret is 256 random bits. Only a SHA-256 of the whole key is stored, and
// checking compares hashes in constant time, so neither the file nor the timing reveals a key.

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { API_KEY_ID_BYTES, API_KEY_SECRET_BYTES } from '../constants.js';

const PREFIX = 'idnc_';
const ID_CHARS = API_KEY_ID_BYTES * 2; // hex
const SECRET_CHARS = Math.ceil((API_KEY_SECRET_BYTES * 8) / 6); // base64url, no padding
const KEY_CHARS = PREFIX.length + ID_CHARS + 1 + SECRET_CHARS;
const KEY_PATTERN = new RegExp(`^${PREFIX}([0-9a-f]{${ID_CHARS}})_[A-Za-z0-9_-]{${SECRET_CHARS}}$`);
const ID_PATTERN = new RegExp(`^[0-9a-f]{${ID_CHARS}}$`);
const HASH_PREFIX = 'sha256:';

export interface NewKey {
  readonly id: string;
  /** The full key, shown once and never stored. */
  readonly key: string;
  /** `sha256:<hex>` of the full key, the only form stored. */
  readonly hash: string;
}

export function generateKey(): NewKey {
  const id = randomBytes(API_KEY_ID_BYTES).toString('hex');
  const key = `${PREFIX}${id}_${randomBytes(API_KEY_SECRET_BYTES).toString('base64url')}`;
  return { id, key, hash: hashKey(key) };
}

export function hashKey(key: string): string {
  return HASH_PREFIX + createHash('sha256').update(key, 'utf8').digest('hex');
}

/** The id of a well-formed key, or undefined for anything else (wrong length, charset, prefix). */
export function keyIdOf(key: string): string | undefined {
  if (key.length !== KEY_CHARS) return undefined;
  return KEY_PATTERN.exec(key)?.[1];
}

export function isKeyId(text: string): boolean {
  return ID_PATTERN.test(text);
}

export function isKeyHash(text: string): boolean {
  return /^sha256:[0-9a-f]{64}$/.test(text);
}

/** Constant-time check of a key against a stored `sha256:<hex>` hash. */
export function keyMatchesHash(key: string, storedHash: string): boolean {
  const given = createHash('sha256').update(key, 'utf8').digest();
  const stored = Buffer.from(storedHash.slice(HASH_PREFIX.length), 'hex');
  return stored.length === given.length && timingSafeEqual(given, stored);
}
