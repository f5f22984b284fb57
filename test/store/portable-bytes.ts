// Roaring portable bytes written by hand, so tests can make bitmaps CRoaring would never write:
// a bitmap container whose bits disagree with its cardinality, unsorted arrays, bad runs.

export interface HandContainer {
  readonly key: number;
  /** What the description says (the format stores cardinality - 1). */
  readonly cardinality: number;
  readonly kind: 'array' | 'bitmap' | 'run';
  /** The container's 16-bit words: array values, 4096 bitmap words, or the run count then (start, length - 1) pairs. */
  readonly words: readonly number[];
}

/** The portable serialisation of `containers` (keys ascending), as the format spec lays it out. */
export function portableBytes(containers: readonly HandContainer[]): Uint8Array {
  const count = containers.length;
  const hasRuns = containers.some((container) => container.kind === 'run');
  const head: number[] = [];
  const u16 = (value: number): void => void head.push(value & 0xff, (value >>> 8) & 0xff);
  const u32 = (value: number): void => {
    u16(value & 0xffff);
    u16(value >>> 16);
  };
  if (hasRuns) {
    u32(12347 | ((count - 1) << 16));
    const flags = new Array<number>((count + 7) >>> 3).fill(0);
    containers.forEach((container, i) => {
      if (container.kind === 'run') flags[i >>> 3]! |= 1 << (i & 7);
    });
    head.push(...flags);
  } else {
    u32(12346);
    u32(count);
  }
  for (const container of containers) {
    u16(container.key);
    u16(container.cardinality - 1);
  }
  const withOffsets = !hasRuns || count >= 4;
  let offset = head.length + (withOffsets ? 4 * count : 0);
  for (const container of containers) {
    if (withOffsets) u32(offset);
    offset += 2 * container.words.length;
  }
  const bytes = new Uint8Array(offset);
  bytes.set(head);
  let at = head.length;
  for (const container of containers) {
    for (const word of container.words) {
      bytes[at++] = word & 0xff;
      bytes[at++] = (word >>> 8) & 0xff;
    }
  }
  return bytes;
}

/** A bitmap container's 4096 words with the bits of `values` (each below 65,536) set. */
export function bitmapWords(values: Iterable<number>): number[] {
  const words = new Array<number>(4096).fill(0);
  for (const value of values) words[value >>> 4]! |= 1 << (value & 15);
  return words;
}
