// `idnc verify [--data-dir D]`: checks every snapshot and log segment of a data directory and says
// whether the writer would start on it. Read-only: safe beside a running server. Exit code 0 when
// the directory starts (a torn tail is reported but cut at startup), 1 when startup would refuse.
// It also warns about the directory and files in it that other users can read (personal data).
// Then it recomputes the hash chain over the log (docs/history.md), compares it with the states the
// snapshots stored and, with --head HASH@SEQ, with a head saved elsewhere: exit 1 too when it does
// not match.

import path from 'node:path';
import type { Command } from 'commander';
import { exposedFiles, type ExposedFile } from '../persist/file-modes.js';
import { verifyDataDir } from '../persist/verify.js';
import { parseHeadArgument } from '../history/chain.js';
import { verifyChain, type ChainReport, type SavedHead } from '../history/verify-chain.js';

/** The default data directory, as for `idnc serve`. */
export const DEFAULT_DATA_DIR = 'snapshots';

export function registerVerifyCommand(program: Command): void {
  program
    .command('verify')
    .description('check the snapshots and log of a data directory (read-only; exit 1 if startup would refuse)')
    .option('--data-dir <dir>', 'data directory (default ./snapshots)')
    .option('--json', 'print the report as JSON')
    .option('--head <hash@seq>', 'also check that the hash chain passes through this head (printed earlier by idnc history head)')
    .action(async (flags: { dataDir?: string; json?: boolean; head?: string }) => {
      const saved = flags.head === undefined ? undefined : parseHeadArgument(flags.head);
      if (saved === null) {
        process.stderr.write(`idnc verify: --head ${JSON.stringify(flags.head)}: expected HASH@SEQ (64 hex digits, @, a seq)\n`);
        process.exitCode = 2;
        return;
      }
      process.exitCode = await verify(flags.dataDir ?? process.env['IDNC_DATA_DIR'] ?? DEFAULT_DATA_DIR, flags.json === true, saved);
    });
}

export async function verify(dataDir: string, json: boolean, saved?: SavedHead): Promise<number> {
  let report;
  try {
    report = await verifyDataDir(path.resolve(dataDir));
  } catch (error) {
    process.stderr.write(`idnc verify: cannot read ${dataDir}: ${(error as Error).message}\n`);
    return 1;
  }
  const exposed = await exposedFiles(report.dataDir).catch(() => []);
  // The chain is checked up to the state a writer would recover; a directory that does not start
  // has its first problem reported above, and its chain is not judged past it.
  const chain = report.startable ? await verifyChain(report.dataDir, report.lastSeq, saved).catch((error: Error) => error) : null;
  const exitCode = report.startable && !(chain instanceof Error) && chain?.ok === true ? 0 : 1;
  if (json) {
    const readableByOthers = exposed.map((file) => ({ path: file.path, mode: octal(file) }));
    const chainJson = chain instanceof Error ? { ok: false, problem: chain.message } : chain;
    process.stdout.write(`${JSON.stringify({ ...report, readableByOthers, chain: chainJson }, null, 2)}\n`);
    return exitCode;
  }
  for (const file of exposed) {
    process.stderr.write(`idnc verify: warning: ${file.path} is open to other users (mode ${octal(file)}); it holds personal data: chmod go-rwx it\n`);
  }
  process.stdout.write(`data directory ${report.dataDir}\n`);
  if (report.files.length === 0) process.stdout.write('  no snapshots or log segments (a new, empty directory)\n');
  for (const file of report.files) process.stdout.write(`  ${file.outcome.padEnd(9)} ${file.file}: ${file.detail}\n`);
  if (report.startable) process.stdout.write(`startable: yes, state up to seq ${report.lastSeq}\n`);
  else process.stdout.write(`startable: NO\n  ${report.startError}\n  to cut the log at the first bad record: idnc repair --yes --data-dir ${dataDir}\n`);
  if (chain !== null) process.stdout.write(describeChain(chain, saved));
  return exitCode;
}

function describeChain(chain: ChainReport | Error, saved: SavedHead | undefined): string {
  if (chain instanceof Error) return `hash chain: cannot be checked: ${chain.message}\n`;
  const { head, fromSeq, checkpoints } = chain;
  const range = `from seq ${fromSeq + 1} to seq ${head.seq}, ${checkpoints} snapshot checkpoints`;
  const savedLine = saved === undefined ? '' : chain.savedHead === 'match' ? `\n  passes through the saved head ${saved.hash}@${saved.seq}` :
    chain.savedHead === 'unchecked' ? `\n  the saved head at seq ${saved.seq} is outside the records kept (seq ${fromSeq + 1} to ${head.seq}): NOT checked` : '';
  const expired = chain.expired;
  const expiredLine = expired === undefined ? '' :
    `\n  records up to seq ${expired.throughSeq} are gone past the history retention (${expired.segments} segments, linked by their kept summaries); ${expired.carried} add records of numbers still listed are carried forward`;
  if (chain.problem !== null) return `hash chain: BROKEN (${range})\n  ${chain.problem}${savedLine}${expiredLine}\n`;
  return `hash chain: ${chain.ok ? 'ok' : 'NOT proven'} (${range}), head ${head.hash}@${head.seq}${savedLine}${expiredLine}\n`;
}

function octal(file: ExposedFile): string {
  return `0${file.mode.toString(8)}`;
}
