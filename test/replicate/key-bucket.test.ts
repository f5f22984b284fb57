// The rules of the `<stream>_KEYS` bucket without NATS: which changes bring the bucket in line with
// the writer's keys.json (a revoke is final, a record gone from the file is deleted, nothing is
// written when nothing differs), the fields that leave the host, and entries that fail the checks.

import { describe, expect, test } from 'vitest';
import { generateKey } from '../../src/keys/key-format.js';
import { KeysFileError, type KeyRecord } from '../../src/keys/key-records.js';
import { decodeRecord, encodeRecord, idOfEntry, keysBucket, planPublish, recordEntry, recordsOf, type SeenEntry } from '../../src/replicate/key-bucket.js';

function record(createdAt: string, changes: Partial<KeyRecord> = {}): KeyRecord {
  const { id, hash } = generateKey();
  return { id, name: null, org: 'default', scopes: ['read'], createdAt, revokedAt: null, hash, ...changes };
}

const seenOf = (...entries: [KeyRecord | null, number, string?][]): Map<string, SeenEntry> =>
  new Map(entries.map(([r, revision, id]) => [id ?? r!.id, { record: r, revision }]));

describe('planPublish', () => {
  const a = record('2026-01-01T00:00:00.000Z');
  const b = record('2026-01-02T00:00:00.000Z');

  test('creates what the bucket lacks (or deleted), and nothing when both hold the same', () => {
    expect(planPublish([a, b], seenOf([a, 3], [null, 4, b.id]))).toEqual([{ kind: 'create', record: b }]);
    expect(planPublish([a, b], seenOf([a, 3], [b, 4]))).toEqual([]);
  });

  test('updates a changed record with compare-and-set on the revision seen; a revoke goes out as an update', () => {
    const revoked = { ...a, revokedAt: '2026-02-01T00:00:00.000Z' };
    expect(planPublish([revoked], seenOf([a, 7]))).toEqual([{ kind: 'update', record: revoked, revision: 7 }]);
    const limited = { ...a, rateLimit: 5 };
    expect(planPublish([limited], seenOf([a, 7]))).toEqual([{ kind: 'update', record: limited, revision: 7 }]);
  });

  test('never turns a revoked record active again: the file is revoked instead', () => {
    const revoked = { ...a, revokedAt: '2026-02-01T00:00:00.000Z', rateLimit: 9 };
    expect(planPublish([a], seenOf([revoked, 7]))).toEqual([{ kind: 'revoke-here', id: a.id, revokedAt: revoked.revokedAt }]);
  });

  test('deletes from the bucket a record the file no longer has', () => {
    expect(planPublish([a], seenOf([a, 1], [b, 2]))).toEqual([{ kind: 'delete', id: b.id, revision: 2 }]);
  });
});

describe('bucket entries', () => {
  test('carry the record fields in a fixed order, and nothing a hand edit added', () => {
    const r = record('2026-01-01T00:00:00.000Z', { projects: ['p1'], rateLimit: 10 });
    const edited = { ...r, secret: 'idnc_x', note: 'n' } as KeyRecord;
    const encoded = encodeRecord(edited);
    expect(Object.keys(JSON.parse(encoded))).toEqual(['id', 'name', 'org', 'scopes', 'projects', 'rateLimit', 'createdAt', 'revokedAt', 'hash']);
    expect(encoded).not.toContain('idnc_x');
    expect(encodeRecord({ ...r })).toBe(encoded);
    expect(decodeRecord(Buffer.from(encoded), 'test')).toEqual(r);
  });

  test('an entry that fails the checks of keys.json is refused', () => {
    const r = record('2026-01-01T00:00:00.000Z');
    expect(() => decodeRecord(Buffer.from(JSON.stringify({ ...r, hash: 'plain-text-key' })), 'entry')).toThrow(KeysFileError);
    expect(() => decodeRecord(Buffer.from('{"id":'), 'entry')).toThrow(KeysFileError);
    expect(() => decodeRecord(Buffer.from(`${encodeRecord(r)},${encodeRecord(record('2026-01-02T00:00:00.000Z'))}`), 'entry')).toThrow(KeysFileError);
    expect(() => decodeRecord(Buffer.from(`[${encodeRecord(r)}]`), 'entry')).toThrow(KeysFileError);
  });

  test('names: the bucket of a stream, one entry per key id', () => {
    expect(keysBucket('IDNC')).toBe('IDNC_KEYS');
    expect(idOfEntry(recordEntry('0a1b2c3d4e5f'))).toBe('0a1b2c3d4e5f');
    expect(idOfEntry('published')).toBeUndefined();
  });

  test('a host copies the records oldest first, leaving deleted ones out', () => {
    const old = record('2026-01-01T00:00:00.000Z');
    const young = record('2026-03-01T00:00:00.000Z');
    expect(recordsOf(seenOf([young, 5], [null, 6, 'aaaaaaaaaaaa'], [old, 9]))).toEqual([old, young]);
  });
});
