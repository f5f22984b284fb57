// Building an evidence file (docs/history.md, "Evidence"): a number's events with, for each, the
// record's bytes and what a third party needs to check it against a head without the data
// directory. One forward pass over the segments from the chain segment of the oldest event to the
// head: the digests of one chain segment at a time are kept (to give the Merkle paths of its
// events), the others shrink to their root, and the head's own segment to its digests. A segment
// without events is not read when its root and last hash are stored (a pack's index has them for
// each member), so an event years old costs the reads of its own segments, not of every day since.
// The file is checked by the verifier before it is returned, so a file idnc writes always verifies.

import { hash as oneShotHash } from 'node:crypto';
import path from 'node:path';
import { assert } from '../assert.js';
import { DataCorruptError, IdncError } from '../errors.js';
import { listDataDir, type SegmentFile } from '../persist/data-dir.js';
import { archivedSummary, historyDir, type ArchivedSegment } from './archive.js';
import { anchorState, headOf, pushRecord, rootOfPeaks, type ChainState } from './chain.js';
import { walkChain } from './chain-walk.js';
import { EVIDENCE_FORMAT, verifyEvidence, type EvidenceChain, type EvidenceEvent, type EvidenceFile } from './evidence-verify.js';
import type { MemberEnd, PackMember } from './pack.js';
import { HistoryReader, type HistoryEvent, type HistoryScope } from './query.js';
import { forEachRecord } from './segment-records.js';
import { chainStart } from './snapshot-chain.js';
import { formatDigits } from '../phone/digits.js';

const NODE_PREFIX = Uint8Array.of(1);

function sha256(...parts: Uint8Array[]): Uint8Array {
  return oneShotHash('sha256', parts.length === 1 ? parts[0]! : Buffer.concat(parts), 'buffer');
}

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

/** The largest power of two below `count` (RFC 6962's split point), count >= 2. */
function splitOf(count: number): number {
  let split = 1;
  while (split * 2 < count) split *= 2;
  return split;
}

/**
 * The Merkle root of leaves [from, to) (RFC 6962's split), appending to `paths` the sibling of each
 * wanted leaf at every level, lowest first: one pass over the segment for all of its events.
 */
function rootWithPaths(leaves: readonly Uint8Array[], from: number, to: number, wanted: readonly number[], paths: Map<number, Uint8Array[]>): Uint8Array {
  if (to - from === 1) return leaves[from]!;
  const split = from + splitOf(to - from);
  const left = rootWithPaths(leaves, from, split, wanted.filter((index) => index < split), paths);
  const right = rootWithPaths(leaves, split, to, wanted.filter((index) => index >= split), paths);
  for (const index of wanted) paths.get(index)!.push(index < split ? right : left);
  return sha256(NODE_PREFIX, left, right);
}

/** The segments history keeps, archived (as `reader` listed them for the query) then live, ascending. */
async function allSegments(dataDir: string, reader: HistoryReader): Promise<ArchivedSegment[]> {
  const archived = await reader.archivedSegments();
  const liveFrom = archived.at(-1)?.firstSeq ?? 0;
  return [...archived, ...(await listDataDir(dataDir)).segments.filter((segment) => segment.firstSeq > liveFrom)];
}

/** A chain state at the start of a chain segment at or before `seq`: an archived segment's summary, or the chain's origin. */
async function startBefore(dataDir: string, segments: readonly SegmentFile[], seq: number): Promise<ChainState> {
  for (let i = segments.findLastIndex((segment) => segment.firstSeq <= seq); i >= 0; i--) {
    const segment = segments[i]!;
    if (path.dirname(segment.path) !== historyDir(dataDir)) continue;
    const before = (await archivedSummary(null, segment)).chainBefore;
    if (before !== undefined) return before;
  }
  const origin = (await chainStart(dataDir, Number.POSITIVE_INFINITY)).origin;
  if (seq <= origin) throw new IdncError('INVALID_PARAMETER', `the event at seq ${seq} is older than the hash chain, which starts after seq ${origin}`);
  if (origin < (segments[0]?.firstSeq ?? Number.POSITIVE_INFINITY) - 1) throw new DataCorruptError(`the chain state before seq ${seq} is not kept; run \`idnc verify\``);
  return anchorState(origin);
}

/** C of the segments before the next chain segment: the current one closes when a file starts (pushRecord). */
function rootsAtStart(state: ChainState): Uint8Array {
  return state.seq >= state.segmentFirstSeq ? sha256(state.roots, rootOfPeaks(state.peaks)) : state.roots;
}

/**
 * The state after a pack's member, from the root and last hash its index stores, given the state
 * just before it: closed, its one peak the member's root, which is all that pushRecord and
 * rootsAtStart take of a segment about to close (it is never stored nor pushed within the segment).
 */
function memberEndState(before: ChainState, member: PackMember, end: MemberEnd): ChainState {
  return { origin: before.origin, seq: member.lastSeq, hash: end.hash, at: member.lastTs, segmentFirstSeq: member.firstSeq, roots: rootsAtStart(before), peaks: [end.root] };
}

interface OpenSegment {
  readonly firstSeq: number;
  readonly hashBefore: Uint8Array;
  readonly rootsBefore: Uint8Array;
  readonly digests: Uint8Array[];
}

/** Walks from `start` to `headSeq` (null: the end of the valid records), collecting the proof of `eventSeqs`. */
async function proveEvents(segments: readonly SegmentFile[], start: ChainState, headSeq: number | null, eventSeqs: readonly number[], stateAfter: (index: number, state: ChainState) => Promise<ChainState | undefined>): Promise<{ state: ChainState; chain: EvidenceChain; paths: Map<number, string[]>; records: Map<number, string> }> {
  let state = start;
  let current: OpenSegment | null = null;
  let rootsBefore: Uint8Array | null = null;
  const closed: { firstSeq: number; root: string }[] = [];
  const paths = new Map<number, string[]>();
  const records = new Map<number, string>();
  const wanted = new Set(eventSeqs);
  const close = (segment: OpenSegment): void => {
    const end = segment.firstSeq + segment.digests.length;
    const inside = eventSeqs.filter((seq) => seq >= segment.firstSeq && seq < end);
    if (rootsBefore === null && inside.length === 0) return;
    rootsBefore ??= segment.rootsBefore;
    const nodes = new Map(inside.map((seq) => [seq - segment.firstSeq, [] as Uint8Array[]]));
    const root = rootWithPaths(segment.digests, 0, segment.digests.length, [...nodes.keys()], nodes);
    closed.push({ firstSeq: segment.firstSeq, root: hex(root) });
    for (const [index, nodesOf] of nodes) paths.set(segment.firstSeq + index, nodesOf.map(hex));
  };
  const upTo = headSeq ?? Number.MAX_SAFE_INTEGER;
  for (let i = segments.findLastIndex((segment) => segment.firstSeq <= start.seq + 1); i >= 0 && i < segments.length && state.seq < upTo; i++) {
    const segment = segments[i]!;
    const end = segments[i + 1]?.firstSeq ?? Number.POSITIVE_INFINITY;
    const after = state.seq === segment.firstSeq - 1 && !eventSeqs.some((seq) => seq >= segment.firstSeq && seq < end) ? await stateAfter(i, state) : undefined;
    if (after !== undefined && after.seq < upTo && after.segmentFirstSeq === segment.firstSeq && Buffer.from(after.roots).equals(rootsAtStart(state))) {
      // A segment without events whose root the next archived segment's summary, or its pack's index, holds: not read.
      if (current !== null) close(current);
      current = null;
      if (rootsBefore !== null) closed.push({ firstSeq: segment.firstSeq, root: hex(rootOfPeaks(after.peaks)) });
      state = after;
      continue;
    }
    await forEachRecord(segment, upTo, (record, frame) => {
      if (record.seq <= state.seq) return;
      if (record.seq !== state.seq + 1) throw new DataCorruptError(`seq ${state.seq + 1} is missing from the log; run \`idnc verify\``);
      const before = state;
      state = pushRecord(state, frame, record.ts, record.seq === segment.firstSeq);
      if (state.segmentFirstSeq === record.seq) {
        if (current !== null) close(current);
        current = { firstSeq: record.seq, hashBefore: before.hash, rootsBefore: state.roots, digests: [] };
      }
      if (current === null) throw new DataCorruptError(`the walk for evidence did not start at a chain segment (seq ${record.seq})`);
      current.digests.push(sha256(frame));
      if (wanted.has(record.seq)) records.set(record.seq, frame.toString('base64'));
    });
  }
  if (current === null || (headSeq !== null && state.seq !== headSeq)) throw new DataCorruptError(`the log's valid records end at seq ${state.seq}, before the head; run \`idnc verify\``);
  const head: OpenSegment = current;
  rootsBefore ??= head.rootsBefore;
  const chain = { rootsBefore: hex(rootsBefore), segments: closed, head: { firstSeq: head.firstSeq, hashBefore: hex(head.hashBefore), digests: head.digests.map(hex) } };
  return { state, chain, paths, records };
}

/** The head of the valid records up to `upToSeq` (null: all), for evidence with no event. */
async function headOnly(dataDir: string, segments: readonly SegmentFile[], upToSeq: number | null): Promise<ChainState> {
  const walked = await walkChain(dataDir, await chainStart(dataDir, upToSeq ?? Number.POSITIVE_INFINITY), { segments, ...(upToSeq === null ? {} : { upToSeq }) });
  if (upToSeq !== null && walked.state.seq !== upToSeq) throw new DataCorruptError(`the hash chain cannot be computed up to seq ${upToSeq}; run \`idnc verify\``);
  return walked.state;
}

/**
 * The evidence for `number`'s events in the scope up to `headSeq` (a saved head's seq, or the
 * acknowledged seq), against the head there (`headHash`: the saved head's hash, which must match).
 */
export async function buildEvidence(dataDir: string, number: number, scope: HistoryScope, headSeq: number | null, headHash?: string): Promise<EvidenceFile> {
  // One reader for the query and the walk: each pack's index is read once (the number tables say
  // which packs hold events; the stored ends let the walk step over the others unread).
  const reader = new HistoryReader(dataDir);
  const events = await reader.events(number, scope, headSeq ?? Number.MAX_SAFE_INTEGER);
  const segments = await allSegments(dataDir, reader);
  let state: ChainState;
  let chain: EvidenceChain | null = null;
  let paths = new Map<number, string[]>();
  let records = new Map<number, string>();
  if (events.length === 0) state = await headOnly(dataDir, segments, headSeq);
  else {
    const start = await startBefore(dataDir, segments, events[0]!.seq);
    const stateAfter = async (index: number, state: ChainState): Promise<ChainState | undefined> => {
      const { member } = segments[index]!;
      if (member?.end !== undefined) return memberEndState(state, member, member.end);
      const next = segments[index + 1];
      return next === undefined || path.dirname(next.path) !== historyDir(dataDir) ? undefined : (await archivedSummary(null, next)).chainBefore;
    };
    ({ state, chain, paths, records } = await proveEvents(segments, start, headSeq, events.map((event) => event.seq), stateAfter));
  }
  const head = headOf(state);
  if (headHash !== undefined && head.hash !== headHash) {
    throw new IdncError('INVALID_PARAMETER', `the hash chain does not pass through the given head at seq ${head.seq} (its hash there is ${head.hash}); run \`idnc verify --head\``);
  }
  const proved = events.filter((event) => event.seq <= state.seq).map((event: HistoryEvent): EvidenceEvent => ({ ...event, record: records.get(event.seq) ?? '', path: paths.get(event.seq) ?? [] }));
  const file: EvidenceFile = { format: EVIDENCE_FORMAT, phone: formatDigits(number), org: scope.org, projId: scope.projId ?? null, head, events: proved, chain };
  const verdict = verifyEvidence(JSON.parse(JSON.stringify(file)), head);
  assert(verdict.ok, `evidence built from the log does not verify: ${verdict.ok ? '' : verdict.problem}`);
  return file;
}
