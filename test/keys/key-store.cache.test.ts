// The key store remembers a key that matched its hash (one map lookup instead of a SHA-256 per
// request): a wrong secret for a remembered id, a revocation and a changed hash must all still be
// refused, and what it remembers is bounded by the records.

import { describe, expect, it, vi } from 'vitest';
import { generateKey, keyMatchesHash } from '../../src/keys/key-format.js';
import type { KeyRecord } from '../../src/keys/key-records.js';
import { KeyStore } from '../../src/keys/key-store.js';

// The hash check, counted: a key the store remembers is not checked again.
vi.mock('../../src/keys/key-format.js', async (importOriginal) => {
  const actual = await importOriginal<typeof import('../../src/keys/key-format.js')>();
  return { ...actual, keyMatchesHash: vi.fn(actual.keyMatchesHash) };
});
const hashChecks = vi.mocked(keyMatchesHash);

function record(): { key: string; record: KeyRecord } {
  const generated = generateKey();
  return {
    key: generated.key,
    record: { id: generated.id, name: null, org: 'acme', scopes: ['read'], createdAt: '', revokedAt: null, hash: generated.hash },
  };
}

describe('KeyStore verified-key memory', () => {
  it('refuses a wrong secret for a remembered id, a revoked key and a re-hashed key', () => {
    const a = record();
    const store = new KeyStore([a.record]);
    expect(store.authenticate(a.key)?.id).toBe(a.record.id);
    expect(store.authenticate(a.key)?.id).toBe(a.record.id);
    const wrong = `${a.key.slice(0, -1)}${a.key.endsWith('A') ? 'B' : 'A'}`;
    expect(store.authenticate(wrong)).toBeUndefined();
    expect(store.authenticate(a.key)?.id).toBe(a.record.id);
    store.replace([{ ...a.record, revokedAt: new Date().toISOString() }]);
    expect(store.authenticate(a.key)).toBeUndefined();
    const b = record();
    store.replace([{ ...a.record, hash: b.record.hash }]);
    expect(store.authenticate(a.key)).toBeUndefined();
    store.replace([a.record]);
    expect(store.authenticate(a.key)?.id).toBe(a.record.id);
  });

  it('remembers only keys that matched, never a wrong or unknown one', () => {
    const a = record();
    const store = new KeyStore([a.record]);
    const unknown = generateKey().key;
    const wrong = `${a.key.slice(0, -1)}${a.key.endsWith('A') ? 'B' : 'A'}`;
    hashChecks.mockClear();
    for (let i = 0; i < 3; i++) {
      expect(store.authenticate(unknown)).toBeUndefined();
      expect(store.authenticate(wrong)).toBeUndefined();
      expect(store.authenticate(a.key)?.id).toBe(a.record.id);
    }
    // Unknown and wrong: checked every time; the right key: checked once, then remembered.
    expect(hashChecks.mock.calls.map(([key]) => (key === a.key ? 'right' : key === wrong ? 'wrong' : 'unknown'))).toEqual([
      'unknown', 'wrong', 'right', 'unknown', 'wrong', 'unknown', 'wrong',
    ]);
  });
});
