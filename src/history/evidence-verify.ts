// Checking an evidence file (docs/history.md, "Evidence") against a head saved elsewhere, with no
// data directory: pure functions of the file's parsed JSON and the head, so a third party can audit
// this module alone. It recomputes, from the file's own bytes, each record's digest and fields, each
// record's Merkle path to its segment's root, the chain of segment roots and the linear part of the
// head's segment, and accepts only when every step leads to the given head's hash.

import { hash as oneShotHash } from 'node:crypto';
import { LOG_RECORD_HEADER_BYTES } from '../constants.js';
import { decodeBody, frameChecksumMatches, type LogRecord } from '../persist/record.js';
import { historyEventOf } from './history-event.js';

export const EVIDENCE_FORMAT = 'idnc-evidence/1';

const HEX_HASH = /^[0-9a-f]{64}$/;
const NODE_PREFIX = Uint8Array.of(1);

/** One event as `idnc history --json` shows it, with the record's bytes and its Merkle path. */
export interface EvidenceEvent {
  readonly seq: number;
  readonly at: string;
  readonly op: 'add' | 'remove';
  readonly list: 'master' | 'project';
  readonly projId: string | null;
  readonly keyId: string;
  readonly keyName?: string;
  readonly source: string;
  readonly reason: string | null;
  readonly requestedAt: string;
  readonly hash: string;
  /** The record's bytes as in the log (length, CRC, seq, body), base64. */
  readonly record: string;
  /** Hex nodes from the record's digest up to its segment's root, lowest first; empty in the head's segment. */
  readonly path: readonly string[];
}

export interface EvidenceChain {
  /** C before the first segment listed (hex). */
  readonly rootsBefore: string;
  /** The closed segments from the oldest event's one to the one before the head's, ascending: first seq and Merkle root R. */
  readonly segments: readonly { readonly firstSeq: number; readonly root: string }[];
  /** The head's own segment: its first seq, the hash before it, and the digests of its records up to the head. */
  readonly head: { readonly firstSeq: number; readonly hashBefore: string; readonly digests: readonly string[] };
}

export interface EvidenceFile {
  readonly format: typeof EVIDENCE_FORMAT;
  readonly phone: string;
  readonly org: string;
  readonly projId: string | null;
  readonly head: { readonly seq: number; readonly at: string | null; readonly hash: string };
  readonly events: readonly EvidenceEvent[];
  /** null when there is no event to prove. */
  readonly chain: EvidenceChain | null;
}

export type EvidenceVerdict = { readonly ok: true; readonly events: number } | { readonly ok: false; readonly problem: string };

function sha256(...parts: Uint8Array[]): Uint8Array {
  return oneShotHash('sha256', Buffer.concat(parts), 'buffer');
}

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

/** Bytes of a hex hash, or null when it is not 64 lowercase hex digits. */
function hashBytes(text: unknown): Uint8Array | null {
  return typeof text === 'string' && HEX_HASH.test(text) ? Buffer.from(text, 'hex') : null;
}

/** The Merkle root of `count` leaves rebuilt from leaf `index` and its path (RFC 6962's split), or null when the path's length is wrong. */
export function rootFromPath(leaf: Uint8Array, index: number, count: number, path: readonly Uint8Array[]): Uint8Array | null {
  if (count === 1) return path.length === 0 ? leaf : null;
  if (path.length === 0) return null;
  let split = 1;
  while (split * 2 < count) split *= 2;
  const sibling = path[path.length - 1]!;
  const rest = path.slice(0, -1);
  if (index < split) {
    const left = rootFromPath(leaf, index, split, rest);
    return left === null ? null : sha256(NODE_PREFIX, left, sibling);
  }
  const right = rootFromPath(leaf, index - split, count - split, rest);
  return right === null ? null : sha256(NODE_PREFIX, sibling, right);
}

/** The record in an event's bytes, checked, or why it is not the event shown. */
function checkRecord(file: EvidenceFile, event: EvidenceEvent): { digest: Uint8Array } | { problem: string } {
  if (typeof event.record !== 'string') return { problem: 'has no record bytes' };
  const frame = Buffer.from(event.record, 'base64');
  if (frame.length < LOG_RECORD_HEADER_BYTES || frame.readUInt32LE(0) !== frame.length - LOG_RECORD_HEADER_BYTES) return { problem: 'record bytes are not one whole record' };
  if (!frameChecksumMatches(frame)) return { problem: 'record bytes fail their CRC-32 checksum' };
  let record: LogRecord;
  try {
    record = decodeBody(Number(frame.readBigUInt64LE(8)), frame.subarray(LOG_RECORD_HEADER_BYTES));
  } catch (error) {
    return { problem: `record bytes do not decode: ${(error as Error).message}` };
  }
  if (record.org !== file.org) return { problem: `record is of organisation ${JSON.stringify(record.org)}, not ${JSON.stringify(file.org)}` };
  if (record.op !== 'drop' && !record.numbers.includes(Number(file.phone))) return { problem: 'record does not name the phone' };
  const digest = sha256(frame);
  const shown: Record<string, unknown> = { ...historyEventOf(record, hex(digest)) };
  for (const [field, value] of Object.entries(shown)) {
    if ((event as unknown as Record<string, unknown>)[field] !== value) return { problem: `${field} is ${JSON.stringify((event as unknown as Record<string, unknown>)[field])} but the record says ${JSON.stringify(value)}` };
  }
  return { digest };
}

/** The head hash the chain part leads to, or why it cannot be computed. */
function chainHead(chain: EvidenceChain, headSeq: number): { hash: Uint8Array } | { problem: string } {
  let roots = hashBytes(chain.rootsBefore);
  if (roots === null) return { problem: 'rootsBefore is not a hash' };
  let previousFirst = -1;
  for (const [i, segment] of chain.segments.entries()) {
    const root = hashBytes(segment.root);
    if (root === null || !Number.isSafeInteger(segment.firstSeq)) return { problem: `segment root ${i + 1} is not a first seq and a hash` };
    if (segment.firstSeq <= previousFirst || segment.firstSeq >= chain.head.firstSeq) return { problem: `segment root ${i + 1} (first seq ${segment.firstSeq}) is out of order` };
    previousFirst = segment.firstSeq;
    roots = sha256(roots, root);
  }
  if (chain.head.firstSeq + chain.head.digests.length - 1 !== headSeq) return { problem: `the head's segment part ends at seq ${chain.head.firstSeq + chain.head.digests.length - 1}, not at the head's seq ${headSeq}` };
  let hash = hashBytes(chain.head.hashBefore);
  if (hash === null) return { problem: "the head's segment part has no hash before it" };
  hash = sha256(hash, roots);
  for (const [i, text] of chain.head.digests.entries()) {
    const digest = hashBytes(text);
    if (digest === null) return { problem: `digest of seq ${chain.head.firstSeq + i} is not a hash` };
    hash = sha256(hash, digest);
  }
  return { hash };
}

/** Whether an event's digest is in the chain part: in the head's segment, or by its Merkle path to a listed segment's root. */
function checkPlace(chain: EvidenceChain, event: EvidenceEvent, digest: Uint8Array): string | null {
  if (!Array.isArray(event.path)) return 'has no Merkle path';
  if (event.seq >= chain.head.firstSeq) {
    if (event.path.length > 0) return "is in the head's segment but has a Merkle path";
    return chain.head.digests[event.seq - chain.head.firstSeq] === hex(digest) ? null : "digest is not the head segment's digest at its seq";
  }
  const index = chain.segments.findLastIndex((segment) => segment.firstSeq <= event.seq);
  if (index === -1) return 'is before the first segment the proof covers';
  const segment = chain.segments[index]!;
  const count = (chain.segments[index + 1]?.firstSeq ?? chain.head.firstSeq) - segment.firstSeq;
  const nodes = event.path.map(hashBytes);
  if (nodes.some((node) => node === null)) return 'Merkle path holds a value that is not a hash';
  const root = rootFromPath(digest, event.seq - segment.firstSeq, count, nodes as Uint8Array[]);
  if (root === null) return `Merkle path has ${nodes.length} nodes, not the number a segment of ${count} records needs`;
  return hex(root) === segment.root ? null : `Merkle path does not lead to the root of the segment starting at seq ${segment.firstSeq}`;
}

/** Checks a parsed evidence file against the head `HASH@SEQ` a company saved; names the first thing that fails. */
export function verifyEvidence(value: unknown, head: { readonly hash: string; readonly seq: number }): EvidenceVerdict {
  const file = value as EvidenceFile;
  if (file === null || typeof file !== 'object' || file.format !== EVIDENCE_FORMAT) return { ok: false, problem: `not an ${EVIDENCE_FORMAT} file` };
  if (typeof file.phone !== 'string' || !/^\d{10}$/.test(file.phone) || typeof file.org !== 'string' || !Array.isArray(file.events)) return { ok: false, problem: 'the file has no phone, org or events' };
  if (file.head?.seq !== head.seq || file.head?.hash !== head.hash) {
    return { ok: false, problem: `the evidence was made for the head at seq ${String(file.head?.seq)} (${String(file.head?.hash)}), not the given head at seq ${head.seq}` };
  }
  const chain = file.chain;
  if (chain === null || chain === undefined) return file.events.length === 0 ? { ok: true, events: 0 } : { ok: false, problem: 'the file has events but no chain proof' };
  if (typeof chain !== 'object' || !Array.isArray(chain.segments) || typeof chain.head !== 'object' || !Array.isArray(chain.head?.digests) || !Number.isSafeInteger(chain.head.firstSeq)) {
    return { ok: false, problem: 'the chain proof is not shaped as the format says' };
  }
  const reached = chainHead(chain, head.seq);
  if ('problem' in reached) return { ok: false, problem: `the chain proof: ${reached.problem}` };
  if (hex(reached.hash) !== head.hash) return { ok: false, problem: `the chain proof does not lead to the given head: it gives ${hex(reached.hash)} at seq ${head.seq}` };
  let previousSeq = 0;
  for (const [i, event] of file.events.entries()) {
    const name = `event ${i + 1} (seq ${String(event?.seq)})`;
    if (event === null || typeof event !== 'object' || !Number.isSafeInteger(event.seq) || event.seq <= previousSeq || event.seq > head.seq) return { ok: false, problem: `${name}: seq is not after the previous event's and at or before the head` };
    previousSeq = event.seq;
    const checked = checkRecord(file, event);
    if ('problem' in checked) return { ok: false, problem: `${name}: ${checked.problem}` };
    const misplaced = checkPlace(chain, event, checked.digest);
    if (misplaced !== null) return { ok: false, problem: `${name}: ${misplaced}` };
  }
  return { ok: true, events: file.events.length };
}
