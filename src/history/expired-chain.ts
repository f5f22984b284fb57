// What `idnc verify` can still check of history past the retention (docs/history.md): the records of
// an expired segment are gone, but its summary stays (without its numbers) with the chain state just
// before it, and an expired pack leaves each member's in a `.idncgone` file, so the chain of segment
// roots is checked across them (the state before segment k+1 must hold C_(k-1), the closing of the
// state before segment k, and start its chain segment at k's first seq), and the carried-forward add
// records must read back whole (CRC-32, seq) and lie in what expired. It says from which seq the
// records themselves are gone.
import { createHash } from 'node:crypto';
import path from 'node:path';
import { HISTORY_DIR, readGone, readHistoryListing } from './archive.js';
import { carriedPath, readCarried } from './carry-forward.js';
import { rootOfPeaks, type ChainState } from './chain.js';
import { readSummary } from './segment-summary.js';

const SUMMARY_PATTERN = /^log-(\d{16})\.idncsum$/;
const GONE_PATTERN = /^pack-(\d{16})\.idncgone$/;

export interface ExpiredHistory {
  /** Segments whose records expired (their summaries kept). */
  readonly segments: number;
  /** The last seq whose record expired (0: none). */
  readonly throughSeq: number;
  /** Add records carried forward past the retention. */
  readonly carried: number;
  readonly problem: string | null;
}

/** C of the chain segments up to and including the current one of `state` (what the next file's first record starts from). */
function closedRoots(state: ChainState): Buffer {
  const leaves = state.seq - state.segmentFirstSeq + 1;
  if (leaves === 0) return Buffer.from(state.roots);
  return createHash('sha256').update(state.roots).update(rootOfPeaks(state.peaks)).digest();
}

interface Summarised {
  readonly name: string;
  readonly firstSeq: number;
  readonly lastSeq: number;
  readonly expired: boolean;
  /** The side file fails its checks (an archived segment's is built again; an expired one's cannot be). */
  readonly unreadable: boolean;
  readonly chainBefore: ChainState | undefined;
}

async function summaries(dataDir: string): Promise<Summarised[]> {
  const dir = path.join(dataDir, HISTORY_DIR);
  const listing = await readHistoryListing(dataDir);
  const { names } = listing;
  const found: Summarised[] = [];
  for (const name of names) {
    const match = SUMMARY_PATTERN.exec(name);
    if (match === null) continue;
    const firstSeq = Number(match[1]);
    const summary = await readSummary(path.join(dir, name), firstSeq);
    const expired = !names.includes(name.replace(/\.idncsum$/, '.idnclog'));
    if (summary === null) found.push({ name, firstSeq, lastSeq: firstSeq - 1, expired, unreadable: true, chainBefore: undefined });
    else found.push({ name, firstSeq, lastSeq: summary.lastSeq, expired, unreadable: false, chainBefore: summary.chainBefore });
  }
  for (const pack of listing.packs) {
    const name = path.basename(pack.path);
    for (const member of pack.members) {
      const chainBefore = member.firstSeq === pack.firstSeq ? pack.chainBefore : undefined;
      found.push({ name: `${name} (${member.name})`, firstSeq: member.firstSeq, lastSeq: member.lastSeq, expired: false, unreadable: false, chainBefore });
    }
  }
  for (const name of names) {
    const firstSeq = GONE_PATTERN.exec(name) === null ? null : Number(GONE_PATTERN.exec(name)![1]);
    // A pack still there was expired by a pass that stopped before removing it: it reads as a pack.
    if (firstSeq === null || names.includes(name.replace(/\.idncgone$/, '.idncpack'))) continue;
    const members = await readGone(path.join(dir, name));
    if (members === null) found.push({ name, firstSeq, lastSeq: firstSeq - 1, expired: true, unreadable: true, chainBefore: undefined });
    else for (const member of members) found.push({ name: `${name} (seq ${member.firstSeq})`, firstSeq: member.firstSeq, lastSeq: member.lastSeq, expired: true, unreadable: false, chainBefore: member.chainBefore });
  }
  return found.sort((a, b) => a.firstSeq - b.firstSeq);
}

export async function checkExpiredHistory(dataDir: string): Promise<ExpiredHistory> {
  const all = await summaries(dataDir);
  const expired = all.filter((summary) => summary.expired);
  const throughSeq = expired.reduce((last, summary) => Math.max(last, summary.lastSeq), 0);
  let problem: string | null = null;
  const unreadable = expired.find((summary) => summary.unreadable);
  if (unreadable !== undefined) problem = `history/${unreadable.name}, the summary of an expired segment, fails its checks: the chain cannot be linked across it`;
  for (let i = 0; i + 1 < all.length && problem === null; i++) {
    const [earlier, later] = [all[i]!, all[i + 1]!];
    if (earlier.chainBefore === undefined || later.chainBefore === undefined || later.firstSeq !== earlier.lastSeq + 1) continue;
    const linked = later.chainBefore.segmentFirstSeq === earlier.firstSeq && Buffer.from(later.chainBefore.roots).equals(closedRoots(earlier.chainBefore));
    if (!linked) problem = `the chain of segment roots does not link history/${earlier.name} to history/${later.name}: a summary, or a record of seq ${earlier.firstSeq} to ${earlier.lastSeq}, was changed`;
  }
  let carried = 0;
  try {
    const file = await readCarried(carriedPath(dataDir, HISTORY_DIR));
    carried = file.entries.length;
    const outside = file.entries.find((entry) => entry.record.seq > file.throughSeq);
    if (outside !== undefined && problem === null) problem = `history/carried.idnccarry holds seq ${outside.record.seq}, after the seqs it says expired (to ${file.throughSeq})`;
  } catch (error) {
    problem ??= (error as Error).message;
  }
  return { segments: expired.length, throughSeq, carried, problem };
}
