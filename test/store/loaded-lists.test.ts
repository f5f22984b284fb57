// LoadedLists against a model (a sorted array of ids): every id is found by its hash, and no other
// string is; ids compare and page as strings do; a taken list is found no more and leaves the
// counts. A loaded slot freed to the store's pool serves the largest size class it holds.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ID_HASH_OFFSET, ID_HASH_PRIME, LoadedLists } from '../../src/store/loaded-lists.js';
import { SortedPool } from '../../src/store/sorted-pool.js';

const id = fc.stringMatching(/^[A-Za-z0-9._-]{1,12}$/);

/** LoadedLists over `ids` (sorted, distinct): list i holds i + 1 numbers of one chunk. */
function loadedOf(ids: readonly string[]): { lists: LoadedLists; chunk: Float64Array } {
  const names = Buffer.from(ids.join(''), 'latin1');
  const nameStarts = new Uint32Array(ids.length + 1);
  const hashes = new Uint32Array(ids.length);
  for (const [i, name] of ids.entries()) {
    nameStarts[i + 1] = nameStarts[i]! + name.length;
    let hash = ID_HASH_OFFSET;
    for (const byte of Buffer.from(name, 'latin1')) hash = Math.imul(hash ^ byte, ID_HASH_PRIME);
    hashes[i] = hash >>> 0;
  }
  const sizes = Uint32Array.from(ids, (_, i) => i + 1);
  const starts = new Uint32Array(ids.length);
  for (let i = 1; i < ids.length; i++) starts[i] = starts[i - 1]! + sizes[i - 1]!;
  const chunk = new Float64Array(ids.length === 0 ? 0 : starts[ids.length - 1]! + sizes[ids.length - 1]!);
  return { lists: new LoadedLists(names, nameStarts, sizes, new Uint32Array(ids.length), starts, [chunk], hashes), chunk };
}

describe('LoadedLists', () => {
  it('finds every id and nothing else, orders as strings do, and forgets what is taken', () => {
    fc.assert(
      fc.property(fc.uniqueArray(id, { maxLength: 300 }), fc.array(id, { maxLength: 20 }), fc.array(fc.nat(), { maxLength: 40 }), (unsorted, probes, takes) => {
        const ids = [...unsorted].sort();
        const { lists } = loadedOf(ids);
        const live = new Set(ids);
        for (const take of takes) {
          if (ids.length === 0) break;
          const name = ids[take % ids.length]!;
          const index = lists.indexOf(name);
          expect(index).toBe(live.has(name) ? ids.indexOf(name) : -1);
          if (index >= 0) {
            expect(lists.take(index)).toMatchObject({ size: index + 1 });
            live.delete(name);
          }
        }
        expect(lists.count).toBe(live.size);
        expect(lists.numberCount).toBe([...live].reduce((sum, name) => sum + ids.indexOf(name) + 1, 0));
        for (const [i, name] of ids.entries()) {
          expect(lists.nameAt(i)).toBe(name);
          expect(lists.isLive(i)).toBe(live.has(name));
        }
        for (const probe of [...probes, '', 'zzzzzzzzzzzzzz']) {
          expect(lists.indexOf(probe)).toBe(live.has(probe) ? ids.indexOf(probe) : -1);
          expect(lists.firstAfter(probe)).toBe(ids.filter((name) => name <= probe).length);
          for (const [i, name] of ids.entries()) expect(Math.sign(lists.compareName(i, probe))).toBe(name < probe ? -1 : name > probe ? 1 : 0);
        }
      }),
      { numRuns: 80 },
    );
  });

  it('hands a freed loaded slot, of any size, to new lists of the size class it holds', () => {
    const pool = new SortedPool();
    const { lists, chunk } = loadedOf(['a', 'b', 'c', 'd', 'e', 'f', 'g']);
    const slot = lists.take(6); // 7 numbers: it holds the class of 5
    pool.free({ chunk: slot.chunk, start: slot.start, capacity: slot.size });
    expect(SortedPool.capacityFor(5)).toBe(5);
    expect(pool.allocate(5)).toEqual({ chunk, start: slot.start, capacity: 5 });
    expect(pool.allocate(5).chunk).not.toBe(chunk);
  });
});
