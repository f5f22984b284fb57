// The chain state a snapshot's header stores (docs/history.md), read without loading the snapshot:
// the header is the file's first msgpack item, so a few KiB are read, not the lists. Where a chain
// starts is decided here for every reader alike (the writer, followers, the CLI, verify), so they
// all compute the same hashes from the same files.

import fs from 'node:fs';
import { Unpackr } from 'msgpackr';
import { SNAPSHOT_MAGIC } from '../constants.js';
import { listDataDir, type DataDirListing } from '../persist/data-dir.js';
import { anchorState, decodeState, type ChainState } from './chain.js';

const HEAD_READ_BYTES = 64 * 1024;
const HEAD_READ_GROWTH = 8;
const MAGIC = Buffer.from(SNAPSHOT_MAGIC, 'latin1');

/** What a snapshot says about the chain: its state, none (written before the chain), or unreadable. */
export type SnapshotChain = { readonly kind: 'state'; readonly state: ChainState } | { readonly kind: 'none' } | { readonly kind: 'unreadable'; readonly detail: string };

export async function readSnapshotChain(file: string): Promise<SnapshotChain> {
  let handle: fs.promises.FileHandle;
  try {
    handle = await fs.promises.open(file, 'r');
  } catch (error) {
    return { kind: 'unreadable', detail: (error as Error).message };
  }
  try {
    const { size } = await handle.stat();
    for (let length = Math.min(size, HEAD_READ_BYTES); ; length = Math.min(size, length * HEAD_READ_GROWTH)) {
      const bytes = Buffer.alloc(length);
      const { bytesRead } = await handle.read(bytes, 0, length, 0);
      const header = firstItem(bytes.subarray(0, bytesRead));
      if (header !== undefined) return chainOf(header);
      if (length >= size) return { kind: 'unreadable', detail: 'no snapshot header' };
    }
  } finally {
    await handle.close();
  }
}

/** The first msgpack item after the magic, or undefined when these bytes do not hold all of it. */
function firstItem(bytes: Buffer): unknown {
  if (bytes.length < MAGIC.length || !bytes.subarray(0, MAGIC.length).equals(MAGIC)) return undefined;
  let item: unknown;
  try {
    new Unpackr({ useRecords: false }).unpackMultiple(bytes.subarray(MAGIC.length), (value: unknown) => {
      item = value;
      return false;
    });
  } catch {
    return item;
  }
  return item;
}

function chainOf(header: unknown): SnapshotChain {
  const chain = (header as { chain?: unknown } | null)?.chain;
  if (chain === undefined) return { kind: 'none' };
  try {
    return { kind: 'state', state: decodeState(chain) };
  } catch (error) {
    return { kind: 'unreadable', detail: (error as Error).message };
  }
}

/**
 * Where the chain can be taken up at or below `atMostSeq`: the newest snapshot there with a chain
 * state; a snapshot written before the chain is an anchor at its seq; with no snapshot, genesis
 * (or an anchor just before the log's first segment). Unreadable snapshots are passed over, as
 * recovery passes over snapshots that fail their checks.
 */
export async function chainStart(dataDir: string, atMostSeq: number, listing?: DataDirListing): Promise<ChainState> {
  const { snapshots, segments } = listing ?? (await listDataDir(dataDir));
  for (const snapshot of snapshots) {
    if (snapshot.lastSeq > atMostSeq) continue;
    const chain = await readSnapshotChain(snapshot.path);
    if (chain.kind === 'state' && chain.state.seq === snapshot.lastSeq) return chain.state;
    if (chain.kind === 'none') return anchorState(snapshot.lastSeq);
  }
  const first = segments[0];
  return anchorState(first === undefined || first.firstSeq > atMostSeq ? 0 : first.firstSeq - 1);
}
