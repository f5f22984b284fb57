// `idnc verify`'s check of the hash chain (docs/history.md): recompute it over the archived and the
// live segments from the oldest point the files allow (the chain's origin when its records are all
// still there, else the oldest archived segment or snapshot whose state can be taken up), compare
// it with the state every snapshot and every archived segment's summary stored and with a head
// saved elsewhere, and name the first thing that does not match. Read-only, lock-free.

import path from 'node:path';
import { DataCorruptError } from '../errors.js';
import { listDataDir, type DataDirListing, type SegmentFile } from '../persist/data-dir.js';
import { archivedSummary, listHistory, type ArchivedSegment } from './archive.js';
import { checkExpiredHistory, type ExpiredHistory } from './expired-chain.js';
import { headOf, sameState, anchorState, type ChainHead, type ChainState } from './chain.js';
import { walkChain } from './chain-walk.js';
import { packIndexMatches } from './pack.js';
import { chainStart, readSnapshotChain } from './snapshot-chain.js';

export interface SavedHead {
  readonly hash: string;
  readonly seq: number;
}

export interface ChainReport {
  /** True when everything checked matches (and the saved head, if given, was found on the chain). */
  readonly ok: boolean;
  /** The seq the check started after (the chain's origin, or a snapshot's seq when older records are gone). */
  readonly fromSeq: number;
  /** The chain's head where the check ended. */
  readonly head: ChainHead;
  /** Snapshot states compared with the recomputed chain. */
  readonly checkpoints: number;
  /** The first problem, naming the file, seq or range; null when none. */
  readonly problem: string | null;
  /** The saved head: 'match', 'differs', or 'unchecked' (outside what the files hold); null if none given. */
  readonly savedHead: 'match' | 'differs' | 'unchecked' | null;
  /** History past the retention: records up to `throughSeq` are gone, linked through their segments' summaries. */
  readonly expired?: ExpiredHistory;
}

interface Checkpoint {
  readonly file: string;
  readonly state: ChainState;
}

async function checkpointsOf(listing: DataDirListing, archived: readonly ArchivedSegment[]): Promise<Checkpoint[]> {
  const checkpoints: Checkpoint[] = [];
  for (const snapshot of listing.snapshots) {
    const chain = await readSnapshotChain(snapshot.path);
    if (chain.kind === 'state' && chain.state.seq === snapshot.lastSeq) checkpoints.push({ file: path.basename(snapshot.path), state: chain.state });
  }
  for (const segment of archived) {
    const before = (await archivedSummary(null, segment)).chainBefore;
    const file = segment.pack === undefined ? `the summary of history/${path.basename(segment.path)}` : `the index of history/${path.basename(segment.path)}`;
    if (before !== undefined) checkpoints.push({ file, state: before });
  }
  return checkpoints.sort((a, b) => a.state.seq - b.state.seq);
}

/** Where the check starts: the origin if its records are all there, else the oldest checkpoint that can be taken up. */
async function startOf(dataDir: string, listing: DataDirListing, segments: readonly SegmentFile[], checkpoints: readonly Checkpoint[]): Promise<ChainState> {
  const firstSeq = segments[0]?.firstSeq ?? Number.POSITIVE_INFINITY;
  const origin = checkpoints[0]?.state.origin ?? (await chainStart(dataDir, Number.POSITIVE_INFINITY, listing)).origin;
  if (origin >= firstSeq - 1) return anchorState(origin);
  return checkpoints.find((checkpoint) => checkpoint.state.seq >= firstSeq - 1)?.state ?? anchorState(origin);
}

/** Checks the chain from its start up to `upToSeq` (the seq a writer would recover; null: the end of the log). */
export async function verifyChain(dataDir: string, upToSeq: number | null, saved?: SavedHead): Promise<ChainReport> {
  const listing = await listDataDir(dataDir);
  let archived: ArchivedSegment[];
  try {
    archived = await listHistory(dataDir);
  } catch (error) {
    // A pack whose header, footer or index fails its checks: nothing in history/ can be walked in order.
    if (!(error instanceof DataCorruptError)) throw error;
    return { ok: false, fromSeq: 0, head: headOf(anchorState(0)), checkpoints: 0, problem: error.message, savedHead: saved === undefined ? null : 'unchecked' };
  }
  const liveFrom = archived.length === 0 ? 0 : archived[archived.length - 1]!.firstSeq;
  const segments = [...archived, ...listing.segments.filter((segment) => segment.firstSeq > liveFrom)];
  const checkpoints = await checkpointsOf(listing, archived);
  const start = await startOf(dataDir, listing, segments, checkpoints);
  const bySeq = new Map(checkpoints.map((checkpoint) => [checkpoint.state.seq, checkpoint]));
  let problem: string | null = null;
  let compared = 0;
  let lastGoodSeq = start.seq;
  let savedHead: ChainReport['savedHead'] = saved === undefined ? null : 'unchecked';
  /** The last checkpoint that matched below the saved head: the change is after it. */
  let savedGoodSeq = start.seq;
  const judge = (state: ChainState): void => {
    if (saved !== undefined && state.seq === saved.seq) {
      savedHead = Buffer.from(state.hash).toString('hex') === saved.hash ? 'match' : 'differs';
      savedGoodSeq = lastGoodSeq;
    }
    const checkpoint = bySeq.get(state.seq);
    if (checkpoint === undefined || problem !== null) return;
    compared++;
    if (sameState(checkpoint.state, state)) lastGoodSeq = state.seq;
    else problem = `the chain recomputed from the log differs from the one ${checkpoint.file} stored at seq ${state.seq}: a record from seq ${lastGoodSeq + 1} to ${state.seq} was changed, added or removed`;
  };
  if (saved !== undefined && start.seq === saved.seq) judge(start);
  const walked = await walkChain(dataDir, start, { ...(upToSeq === null ? {} : { upToSeq }), onState: judge, segments });
  if (walked.stop !== null && problem === null) problem = `${walked.stop.file} at offset ${walked.stop.offset}, seq ${walked.stop.seq}: ${walked.stop.detail}`;
  const verdict = savedHead as ChainReport['savedHead'];
  if (verdict === 'differs' && problem === null) {
    problem = `the chain does not pass through the saved head at seq ${saved!.seq}: a record from seq ${savedGoodSeq + 1} to ${saved!.seq} was changed, added or removed`;
  }
  const expired = await checkExpiredHistory(dataDir);
  problem ??= expired.problem;
  for (const pack of new Set(archived.flatMap((segment) => (segment.pack === undefined ? [] : [segment.pack.path])))) {
    if (problem === null && !(await packIndexMatches(pack))) problem = `history/${path.basename(pack)}: its index is not the one its records give (changed, with its CRC-32 recomputed); queries would miss or misplace events`;
  }
  const ok = problem === null && verdict !== 'differs' && verdict !== 'unchecked';
  return { ok, fromSeq: start.seq, head: headOf(walked.state), checkpoints: compared, problem, savedHead: verdict, ...(expired.segments === 0 ? {} : { expired }) };
}
