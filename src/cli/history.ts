// `idnc history head [--data-dir D]`: prints the head of the hash chain over the log, `{"seq", "at",
// "hash"}` (docs/history.md), read-only from the files: offline or beside a running server, whose
// durable-seq mark bounds it to acknowledged changes (a record being written is never a head).
// Exit codes: 0 printed, 1 the chain cannot be computed (run `idnc verify`), 2 bad arguments.

import path from 'node:path';
import type { Command } from 'commander';
import { headOf } from '../history/chain.js';
import { walkChain } from '../history/chain-walk.js';
import { chainStart } from '../history/snapshot-chain.js';
import { listDataDir } from '../persist/data-dir.js';
import { readDurableMark } from '../persist/durable-mark.js';
import { resolveDataDir } from './config.js';

export function registerHistoryCommand(program: Command): void {
  program
    .command('history')
    .description('compliance history of a data directory (read-only): `idnc history head` prints the hash chain head')
    .argument('<what>', 'head')
    .option('--data-dir <dir>', 'data directory (env IDNC_DATA_DIR, default ./snapshots)')
    .action(async (what: string, flags: { dataDir?: string }) => {
      if (what !== 'head') {
        process.stderr.write(`idnc history: unknown ${JSON.stringify(what)}: expected head\n`);
        process.exitCode = 2;
        return;
      }
      process.exitCode = await printHead(resolveDataDir(flags.dataDir));
    });
}

export async function printHead(dataDir: string): Promise<number> {
  try {
    const mark = await readDurableMark(dataDir);
    const upToSeq = mark.kind === 'ok' ? mark.mark.seq : undefined;
    const listing = await listDataDir(dataDir);
    const start = await chainStart(dataDir, upToSeq ?? Number.POSITIVE_INFINITY, listing);
    const walked = await walkChain(dataDir, start, { segments: listing.segments, ...(upToSeq === undefined ? {} : { upToSeq }) });
    // Without a mark the log ends where the valid records of its last segment end (a torn tail is no head).
    const lastSegment = listing.segments.at(-1);
    const tornTail = upToSeq === undefined && lastSegment !== undefined && walked.stop?.file === path.basename(lastSegment.path);
    if (walked.stop !== null && !tornTail) {
      process.stderr.write(`idnc history: the hash chain cannot be computed: ${walked.stop.file} at offset ${walked.stop.offset}, seq ${walked.stop.seq}: ${walked.stop.detail}; run idnc verify --data-dir ${dataDir}\n`);
      return 1;
    }
    process.stdout.write(`${JSON.stringify(headOf(walked.state))}\n`);
    return 0;
  } catch (error) {
    process.stderr.write(`idnc history: cannot read ${path.basename(dataDir)}: ${(error as Error).message}\n`);
    return 1;
  }
}
