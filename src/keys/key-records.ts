// What `keys.json` holds and the rules for it: one record per key (never the key itself, only its
// hash), scopes and project limits validated at the edge, and the file's content checked right
// after it is read, so a hand-edited or damaged file is refused with a message naming the problem.
// Unknown record fields are kept as they are, leaving room for later ones (a per-key rateLimit).

import { KEY_NAME_PATTERN, KEY_PROJECTS_MAX, KEY_RATE_LIMIT_PER_SECOND_DEFAULT, KEY_RATE_LIMIT_PER_SECOND_MAX, KEYS_FILE_FORMAT_VERSION, ORGANISATION_ID_PATTERN, PROJECT_ID_PATTERN } from '../constants.js';
import { quoteInput } from '../errors.js';
import { isKeyHash, isKeyId } from './key-format.js';

/**
 * read: status, count; write: add, remove; admin: everything in its organisation; operator: the
 * server-wide series of /metrics (every tenant's activity), never implied by admin.
 */
export const SCOPES = ['read', 'write', 'admin', 'operator'] as const;
export type Scope = (typeof SCOPES)[number];

export interface KeyRecord {
  readonly id: string;
  readonly name: string | null;
  readonly org: string;
  readonly scopes: readonly Scope[];
  /** Absent: the key may use every list of its organisation. */
  readonly projects?: readonly string[];
  /** Requests per second this key may make (0 = unlimited); absent: KEY_RATE_LIMIT_PER_SECOND_DEFAULT. */
  readonly rateLimit?: number;
  readonly createdAt: string;
  readonly revokedAt: string | null;
  readonly hash: string;
}

export interface KeysFile {
  readonly format: number;
  readonly keys: readonly KeyRecord[];
}

/** A problem a user can fix on the command line (bad scope, unknown key...): message says what. */
export class KeyInputError extends Error {
  override readonly name = 'KeyInputError';
}

/** The key file cannot be read or fails its checks; the server refuses to use it. */
export class KeysFileError extends Error {
  override readonly name = 'KeysFileError';
}

export function checkOrg(org: string): string {
  if (!ORGANISATION_ID_PATTERN.test(org)) {
    throw new KeyInputError(`invalid organisation ${quoteInput(org)}: expected 1-64 characters of A-Z a-z 0-9 . _ -`);
  }
  return org;
}

/** `read,write` -> ['read', 'write']; duplicates dropped, unknown or empty scopes refused. */
export function parseScopes(text: string): Scope[] {
  const scopes: Scope[] = [];
  for (const part of text.split(',')) {
    const scope = part.trim();
    if (!(SCOPES as readonly string[]).includes(scope)) {
      throw new KeyInputError(`invalid scope ${quoteInput(scope)}: expected a comma-separated list of read, write, admin, operator`);
    }
    if (!scopes.includes(scope as Scope)) scopes.push(scope as Scope);
  }
  return scopes;
}

/** `a,b` -> ['a', 'b']; every entry must be a valid project id. */
export function parseProjects(text: string): string[] {
  const projects: string[] = [];
  for (const part of text.split(',')) {
    const project = part.trim();
    if (!PROJECT_ID_PATTERN.test(project)) {
      throw new KeyInputError(`invalid project ${quoteInput(project)}: expected 1-64 characters of A-Z a-z 0-9 . _ -`);
    }
    if (!projects.includes(project)) projects.push(project);
  }
  if (projects.length > KEY_PROJECTS_MAX) {
    throw new KeyInputError(`too many projects: ${projects.length}, at most ${KEY_PROJECTS_MAX}`);
  }
  return projects;
}

/** Names are typed on command lines; one that looks like a key id would make `revoke` ambiguous. */
export function checkName(name: string): string {
  if (!KEY_NAME_PATTERN.test(name) || isKeyId(name)) {
    throw new KeyInputError(`invalid key name ${quoteInput(name)}: expected 1-64 characters of A-Z a-z 0-9 . _ -, not a key id`);
  }
  return name;
}

function isRateLimit(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 && value <= KEY_RATE_LIMIT_PER_SECOND_MAX;
}

/** `--rate-limit` text -> requests per second (0 = unlimited). */
export function parseRateLimit(text: string): number {
  const value = /^\d{1,16}$/.test(text.trim()) ? Number(text.trim()) : NaN;
  if (!isRateLimit(value)) {
    throw new KeyInputError(`invalid rate limit ${quoteInput(text)}: expected requests per second from 0 (unlimited) to ${KEY_RATE_LIMIT_PER_SECOND_MAX}`);
  }
  return value;
}

/** The requests per second a key may make (0 = unlimited). */
export function rateLimitOf(record: KeyRecord): number {
  return record.rateLimit ?? KEY_RATE_LIMIT_PER_SECOND_DEFAULT;
}

export function isActive(record: KeyRecord): boolean {
  return record.revokedAt === null;
}

/** Parses and checks the text of keys.json; throws KeysFileError naming the first problem. */
export function parseKeysFile(text: string, fileName: string): KeysFile {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw new KeysFileError(`${fileName} is not valid JSON`);
  }
  if (typeof data !== 'object' || data === null || !Array.isArray((data as KeysFile).keys)) {
    throw new KeysFileError(`${fileName} must be an object with a "keys" array`);
  }
  const file = data as KeysFile;
  if (file.format !== KEYS_FILE_FORMAT_VERSION) {
    throw new KeysFileError(`${fileName} has format ${String(file.format)}, this idnc reads format ${KEYS_FILE_FORMAT_VERSION}`);
  }
  const ids = new Set<string>();
  file.keys.forEach((record, index) => {
    const problem = recordProblem(record);
    if (problem !== undefined) throw new KeysFileError(`${fileName}: key #${index + 1}: ${problem}`);
    if (ids.has(record.id)) throw new KeysFileError(`${fileName}: key id ${record.id} appears twice`);
    ids.add(record.id);
  });
  return file;
}

function recordProblem(record: unknown): string | undefined {
  if (typeof record !== 'object' || record === null) return 'not an object';
  const r = record as Record<string, unknown>;
  if (typeof r.id !== 'string' || !isKeyId(r.id)) return 'invalid id';
  if (typeof r.hash !== 'string' || !isKeyHash(r.hash)) return 'invalid hash';
  if (typeof r.org !== 'string' || !ORGANISATION_ID_PATTERN.test(r.org)) return 'invalid org';
  if (r.name !== null && (typeof r.name !== 'string' || !KEY_NAME_PATTERN.test(r.name))) return 'invalid name';
  if (!Array.isArray(r.scopes) || r.scopes.length === 0) return 'scopes must be a non-empty array';
  if (!r.scopes.every((s) => (SCOPES as readonly unknown[]).includes(s))) return 'unknown scope';
  if (r.projects !== undefined) {
    if (!Array.isArray(r.projects) || r.projects.length === 0) return 'projects must be a non-empty array when present';
    if (!r.projects.every((p) => typeof p === 'string' && PROJECT_ID_PATTERN.test(p))) return 'invalid project';
  }
  if (r.rateLimit !== undefined && !isRateLimit(r.rateLimit)) {
    return `rateLimit must be a whole number of requests per second from 0 (unlimited) to ${KEY_RATE_LIMIT_PER_SECOND_MAX}`;
  }
  if (typeof r.createdAt !== 'string') return 'invalid createdAt';
  if (r.revokedAt !== null && typeof r.revokedAt !== 'string') return 'invalid revokedAt';
  return undefined;
}
