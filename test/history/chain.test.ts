// The chain's incremental state (peaks, roots, states stored and read back) against the reference
// implementation of docs/history.md, over random records split into random segments.

import { describe, expect, it } from 'vitest';
import { anchorState, decodeState, encodeState, headOf, parseHeadArgument, pushRecord, sameState, type ChainState } from '../../src/history/chain.js';
import { referenceHead } from './chain-reference.js';

function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 48271) % 2147483647;
    return state / 2147483647;
  };
}

function randomSegments(next: () => number): Buffer[][] {
  const segments: Buffer[][] = [];
  const count = 1 + Math.floor(next() * 5);
  for (let s = 0; s < count; s++) {
    const records = 1 + Math.floor(next() * 40);
    segments.push(Array.from({ length: records }, () => Buffer.from(Array.from({ length: 20 + Math.floor(next() * 100) }, () => Math.floor(next() * 256)))));
  }
  return segments;
}

function walk(segments: readonly (readonly Buffer[])[], start: ChainState = anchorState(0)): ChainState {
  let state = start;
  for (const frames of segments) frames.forEach((frame, i) => (state = pushRecord(state, frame, 1000 + state.seq, i === 0)));
  return state;
}

describe('the chain state', () => {
  it('gives the reference head for random records in random segments (100 seeds)', () => {
    for (let seed = 1; seed <= 100; seed++) {
      const segments = randomSegments(random(seed));
      const state = walk(segments);
      expect(Buffer.from(state.hash).toString('hex'), `seed ${seed}`).toBe(referenceHead(segments));
      expect(state.seq).toBe(segments.flat().length);
    }
  });

  it('goes on from a state stored and read back at any record, as if never interrupted', () => {
    const segments = randomSegments(random(7));
    const all = segments.flatMap((frames) => frames.map((frame, i) => ({ frame, startsFile: i === 0 })));
    const whole = walk(segments);
    for (const cut of [1, 2, 17, all.length - 1]) {
      let state = anchorState(0);
      for (const { frame, startsFile } of all.slice(0, cut)) state = pushRecord(state, frame, 5, startsFile);
      state = decodeState(encodeState(state));
      for (const { frame, startsFile } of all.slice(cut)) state = pushRecord(state, frame, 5, startsFile);
      expect(sameState(state, whole), `cut after ${cut}`).toBe(true);
    }
  });

  it('changes its head when any one byte of any record changes, or two records trade places', () => {
    const segments = randomSegments(random(3));
    const head = Buffer.from(walk(segments).hash).toString('hex');
    const flipped = segments.map((frames) => frames.map((frame) => Buffer.from(frame)));
    flipped[0]![0]![5]! ^= 1;
    expect(Buffer.from(walk(flipped).hash).toString('hex')).not.toBe(head);
    const swapped = segments.map((frames) => [...frames]);
    const last = swapped.at(-1)!;
    if (last.length > 1) [last[0], last[1]] = [last[1]!, last[0]!];
    else swapped.push(...swapped.splice(0, 1));
    expect(Buffer.from(walk(swapped).hash).toString('hex')).not.toBe(head);
  });

  it('a head names its seq, the last record time in ISO 8601 and the hash in hex', () => {
    const state = pushRecord(anchorState(0), Buffer.from('abc'), Date.parse('2026-03-01T15:04:05.006Z'), true);
    expect(headOf(state)).toEqual({ seq: 1, at: '2026-03-01T15:04:05.006Z', hash: Buffer.from(state.hash).toString('hex') });
    expect(headOf(anchorState(0))).toEqual({ seq: 0, at: null, hash: '0'.repeat(64) });
  });

  it.each([
    ['peaks that do not fit the count', (state: Record<string, unknown>) => ({ ...state, peaks: [] })],
    ['a short hash', (state: Record<string, unknown>) => ({ ...state, hash: Buffer.alloc(31) })],
    ['a segment starting after the next seq', (state: Record<string, unknown>) => ({ ...state, segmentFirstSeq: 99 })],
    ['an origin after the seq', (state: Record<string, unknown>) => ({ ...state, origin: 99 })],
    ['no state at all', () => null],
  ])('a stored state with %s is refused as corrupt', (_, spoil) => {
    const state = encodeState(walk(randomSegments(random(11))));
    expect(() => decodeState(spoil(state))).toThrow(expect.objectContaining({ code: 'DATA_CORRUPT' }));
  });

  it('reads a saved head as HASH@SEQ and nothing else', () => {
    const hash = 'ab'.repeat(32);
    expect(parseHeadArgument(`${hash.toUpperCase()}@42`)).toEqual({ hash, seq: 42 });
    for (const text of [`${hash}`, `${hash}@`, `${hash.slice(2)}@4`, `${hash}@-1`, `@4`]) expect(parseHeadArgument(text)).toBeNull();
  });
});
