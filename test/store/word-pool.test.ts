// The word pool appends regions and reclaims released ones only by copying the live ones into a new
// buffer: owners learn their new origin, the listener runs, and views of the old buffer keep their
// bytes.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { WORD_POOL_SLACK_DIVISOR, WORD_POOL_WORDS_MIN } from '../../src/constants.js';
import { PoolPlacementError, WordPool, type PoolRegion } from '../../src/store/word-pool.js';

/** A region that writes a recognisable pattern (its id) into its words. */
class PatternRegion implements PoolRegion {
  origin: number;
  /** Whether the words were all zero when allocated (the pool promises zeroed words). */
  readonly zeroed: boolean;
  constructor(readonly pool: WordPool, readonly id: number, readonly length: number) {
    this.origin = pool.allocate(this, length);
    this.zeroed = pool.words.subarray(this.origin, this.origin + length).every((word) => word === 0);
    pool.words.fill(id, this.origin, this.origin + length);
  }
  moveTo(origin: number): void {
    this.origin = origin;
  }
  intact(): boolean {
    return this.pool.words.subarray(this.origin, this.origin + this.length).every((word) => word === this.id);
  }
}

describe('WordPool', () => {
  it('keeps every live region intact through allocations, releases and compactions', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ release: fc.boolean(), length: fc.integer({ min: 1, max: 40_000 }), pick: fc.nat() }), { minLength: 1, maxLength: 60 }),
        (steps) => {
          const pool = new WordPool();
          let moves = 0;
          pool.onMoved(() => moves++);
          const live: PatternRegion[] = [];
          let id = 1;
          for (const step of steps) {
            if (step.release && live.length > 0) pool.release(live.splice(step.pick % live.length, 1)[0]!);
            else {
              const region = new PatternRegion(pool, (id++ % 0xffff) + 1, step.length);
              expect(region.zeroed).toBe(true);
              live.push(region);
            }
            expect(live.filter((region) => !region.intact()).map((region) => region.id)).toEqual([]);
          }
          expect(pool.liveWords).toBe(live.reduce((sum, region) => sum + region.length, 0));
          expect(moves).toBe(pool.compactions);
          expect(pool.capacityWords).toBeGreaterThanOrEqual(pool.liveWords);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('compacts into a new buffer when no hole fits and the end has no room, leaving old views alone', () => {
    const pool = new WordPool();
    const kept = new PatternRegion(pool, 7, 1000);
    const dropped = new PatternRegion(pool, 9, 30_000);
    const last = new PatternRegion(pool, 8, WORD_POOL_WORDS_MIN - 31_000);
    const view = pool.words.subarray(dropped.origin, dropped.origin + dropped.length);
    pool.release(dropped);
    const compactions = pool.compactions; // the first allocation made the first buffer
    expect(pool.capacityWords).toBe(WORD_POOL_WORDS_MIN);
    const next = new PatternRegion(pool, 11, 30_001); // one word more than the hole
    expect(pool.compactions).toBe(compactions + 1);
    expect(next.zeroed && kept.intact() && last.intact() && next.intact()).toBe(true);
    expect(pool.liveWords).toBe(WORD_POOL_WORDS_MIN - 30_000 + 30_001);
    expect(view.every((word) => word === 9)).toBe(true);
  });

  it('reuses released words in place: first fit, touching holes merged, a hole at the end given back', () => {
    const pool = new WordPool(10_000);
    const [a, b, c, d] = [1, 2, 3, 4].map((id) => new PatternRegion(pool, id, 1000));
    pool.release(b!);
    const small = new PatternRegion(pool, 5, 600);
    expect(small.origin).toBe(1000); // into b's hole
    pool.release(a!);
    pool.release(c!); // a's hole, [600 words of b's hole], c's hole: a and c are not adjacent to each other
    const large = new PatternRegion(pool, 6, 1400);
    expect(large.origin).toBe(1600); // the rest of b's hole (400) merged with c's (1000)
    pool.release(d!); // touches the end: the pool's used words shrink instead of keeping a hole
    const tail = new PatternRegion(pool, 7, 1500);
    expect(tail.origin).toBe(3000);
    expect(small.zeroed && large.zeroed && tail.zeroed).toBe(true); // reused words are cleared
    expect(pool.compactions).toBe(0);
    expect([small, large, tail].every((region) => region.intact())).toBe(true);
  });

  it('holds released words back while pinned, and makes them holes once the last pin goes', () => {
    const pool = new WordPool(10_000);
    const [a, b] = [1, 2].map((id) => new PatternRegion(pool, id, 1000));
    const unpinFirst = pool.pin();
    const unpinSecond = pool.pin();
    pool.release(a!);
    const during = new PatternRegion(pool, 3, 1000);
    expect(during.origin).toBe(2000); // not into a's words, which a pinned view may still read
    unpinFirst();
    unpinFirst(); // once only: the second pin still holds
    expect(new PatternRegion(pool, 4, 1000).origin).toBe(3000);
    unpinSecond();
    expect(new PatternRegion(pool, 5, 1000).origin).toBe(0); // a's words, now a hole
    expect([b, during].every((region) => region!.intact())).toBe(true);
  });

  it('keeps at most a sixteenth of its live words to spare, and a reserve makes room at once', () => {
    const pool = new WordPool();
    const regions = Array.from({ length: 50 }, (_, i) => new PatternRegion(pool, i + 1, 20_000));
    expect(regions.every((region) => region.intact())).toBe(true);
    expect(pool.capacityWords).toBeLessThanOrEqual(Math.ceil(pool.liveWords * (1 + 1 / WORD_POOL_SLACK_DIVISOR)) + 20_000);
    pool.reserve(50 * 20_000);
    const compactions = pool.compactions;
    const more = Array.from({ length: 50 }, (_, i) => new PatternRegion(pool, i + 51, 20_000));
    expect(pool.compactions).toBe(compactions);
    expect([...regions, ...more].every((region) => region.intact())).toBe(true);
  });

  it('places regions in order over words it holds, without clearing them; later allocations clear', () => {
    const words = new Uint16Array(10_000).fill(7);
    const pool = WordPool.holding(words);
    const placed = (length: number): PoolRegion & { origin: number } => {
      const region = { origin: 0, length, moveTo: (origin: number) => (region.origin = origin) };
      region.origin = pool.placeNext(region, length);
      return region;
    };
    const first = placed(3000);
    const second = placed(4000);
    expect([first.origin, second.origin]).toEqual([0, 3000]);
    expect(words.every((word) => word === 7)).toBe(true); // nothing cleared
    expect(() => placed(3001)).toThrow(PoolPlacementError);
    expect(() => WordPool.holding(new Uint16Array(100).subarray(10))).toThrow(PoolPlacementError);
    const fresh = new PatternRegion(pool, 9, 2000); // from words still holding 7s
    expect(fresh.zeroed && fresh.origin === 7000).toBe(true);
    pool.release(first);
    expect(() => placed(10)).toThrow(PoolPlacementError); // only before any other change
    const grown = new PatternRegion(pool, 10, 5000); // compacts: second and fresh move
    expect(grown.zeroed && fresh.intact() && pool.words.subarray(second.origin, second.origin + 4000).every((word) => word === 7)).toBe(true);
  });
});
