// The project ids of one organisation in order, so that a page of its lists (`Dnc.lists`, GET
// /v1/lists) is found by a binary search and read in order, never by sorting or walking every id
// per request. Ids live in blocks of at most LIST_NAMES_BLOCK_MAX: a new or dropped list splices
// one small block (one sorted array would move every id), and ids arriving in order (a snapshot
// load) are appended to the last block. Order is that of `<` on strings (UTF-16 code units), the
// order of Array.prototype.sort. Each id may carry a value (its list), kept beside it, so that a walk
// in order needs no lookup per id (a million Map lookups took longer than writing a snapshot).

import { LIST_NAMES_BLOCK_MAX } from '../constants.js';

/** An id and its value, as `entriesAfter` yields them (one object, reused: read it before the next). */
export interface NameEntry<V> {
  name: string;
  value: V | undefined;
}

export class SortedNames<V = undefined> {
  /** Non-empty blocks, each sorted, every id of a block below every id of the next. */
  private readonly blocks: string[][] = [];
  /** The value of each id, at the same block and position. */
  private readonly values: (V | undefined)[][] = [];
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** Adds `name` with `value`; false when it is already there (its value unchanged). */
  add(name: string, value?: V): boolean {
    const last = this.blocks[this.blocks.length - 1];
    if (last === undefined || name > last[last.length - 1]!) {
      if (last === undefined || last.length >= LIST_NAMES_BLOCK_MAX) {
        this.blocks.push([name]);
        this.values.push([value]);
      } else {
        last.push(name);
        this.values[this.values.length - 1]!.push(value);
      }
      this.count++;
      return true;
    }
    const index = this.blockOf(name);
    const block = this.blocks[index]!;
    const values = this.values[index]!;
    const position = lowerBound(block, name);
    if (block[position] === name) return false;
    block.splice(position, 0, name);
    values.splice(position, 0, value);
    if (block.length > LIST_NAMES_BLOCK_MAX) {
      this.blocks.splice(index + 1, 0, block.splice(block.length >> 1));
      this.values.splice(index + 1, 0, values.splice(values.length >> 1));
    }
    this.count++;
    return true;
  }

  /** Removes `name`; false when it was not there. */
  delete(name: string): boolean {
    const index = this.blockOf(name);
    const block = this.blocks[index];
    if (block === undefined) return false;
    const position = lowerBound(block, name);
    if (block[position] !== name) return false;
    block.splice(position, 1);
    this.values[index]!.splice(position, 1);
    if (block.length === 0) {
      this.blocks.splice(index, 1);
      this.values.splice(index, 1);
    }
    this.count--;
    return true;
  }

  /** The ids above `after` ('' for all), in order. */
  *after(after: string): IterableIterator<string> {
    let index = this.blockOf(after);
    if (index === this.blocks.length) return;
    let position = upperBound(this.blocks[index]!, after);
    for (; index < this.blocks.length; index++, position = 0) {
      const block = this.blocks[index]!;
      for (; position < block.length; position++) yield block[position]!;
    }
  }

  /** The ids above `after` with their values, in order (see NameEntry: one object, reused). */
  *entriesAfter(after: string): IterableIterator<NameEntry<V>> {
    let index = this.blockOf(after);
    if (index === this.blocks.length) return;
    let position = upperBound(this.blocks[index]!, after);
    const entry: NameEntry<V> = { name: '', value: undefined };
    for (; index < this.blocks.length; index++, position = 0) {
      const block = this.blocks[index]!;
      const values = this.values[index]!;
      for (; position < block.length; position++) {
        entry.name = block[position]!;
        entry.value = values[position];
        yield entry;
      }
    }
  }

  /** Calls `visit` with every id and its value, in order: a callback, as a walk of a million ids must not resume a generator per id. */
  forEach(visit: (name: string, value: V | undefined) => void): void {
    for (let index = 0; index < this.blocks.length; index++) {
      const block = this.blocks[index]!;
      const values = this.values[index]!;
      for (let position = 0; position < block.length; position++) visit(block[position]!, values[position]);
    }
  }

  /** The first block whose last id is at least `name` (blocks.length when there is none). */
  private blockOf(name: string): number {
    let low = 0;
    let high = this.blocks.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      const block = this.blocks[middle]!;
      if (block[block.length - 1]! < name) low = middle + 1;
      else high = middle;
    }
    return low;
  }
}

/** First position whose id is at least `name`. */
function lowerBound(block: readonly string[], name: string): number {
  let low = 0;
  let high = block.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (block[middle]! < name) low = middle + 1;
    else high = middle;
  }
  return low;
}

/** First position whose id is above `name`. */
function upperBound(block: readonly string[], name: string): number {
  let low = 0;
  let high = block.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (block[middle]! <= name) low = middle + 1;
    else high = middle;
  }
  return low;
}
