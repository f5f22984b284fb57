// `idnc verify [--data-dir D]`: checks every snapshot and log segment of a data directory and says
// whether the writer would start on it. Read-only: safe beside a running server. Exit code 0 when
// the directory starts (a torn tail is reported but cut at startup), 1 when startup would refuse.
// It also warns about the directory and files in it that other users can read (personal data).

import path from 'node:path';
import type { Command } from 'commander';
import { exposedFiles, type ExposedFile } from '../persist/file-modes.js';
import { verifyDataDir } from '../persist/verify.js';

/** The default data directory, as for `idnc serve`. */
export const DEFAULT_DATA_DIR = 'snapshots';

export function registerVerifyCommand(program: Command): void {
  program
    .command('verify')
    .description('check the snapshots and log of a data directory (read-only; exit 1 if startup would refuse)')
    .option('--data-dir <dir>', 'data directory (default ./snapshots)')
    .option('--json', 'print the report as JSON')
    .action(async (flags: { dataDir?: string; json?: boolean }) => {
      process.exitCode = await verify(flags.dataDir ?? process.env['IDNC_DATA_DIR'] ?? DEFAULT_DATA_DIR, flags.json === true);
    });
}

export async function verify(dataDir: string, json: boolean): Promise<number> {
  let report;
  try {
    report = await verifyDataDir(path.resolve(dataDir));
  } catch (error) {
    process.stderr.write(`idnc verify: cannot read ${dataDir}: ${(error as Error).message}\n`);
    return 1;
  }
  const exposed = await exposedFiles(report.dataDir).catch(() => []);
  if (json) {
    const readableByOthers = exposed.map((file) => ({ path: file.path, mode: octal(file) }));
    process.stdout.write(`${JSON.stringify({ ...report, readableByOthers }, null, 2)}\n`);
    return report.startable ? 0 : 1;
  }
  for (const file of exposed) {
    process.stderr.write(`idnc verify: warning: ${file.path} is open to other users (mode ${octal(file)}); it holds personal data: chmod go-rwx it\n`);
  }
  process.stdout.write(`data directory ${report.dataDir}\n`);
  if (report.files.length === 0) process.stdout.write('  no snapshots or log segments (a new, empty directory)\n');
  for (const file of report.files) process.stdout.write(`  ${file.outcome.padEnd(9)} ${file.file}: ${file.detail}\n`);
  if (report.startable) process.stdout.write(`startable: yes, state up to seq ${report.lastSeq}\n`);
  else process.stdout.write(`startable: NO\n  ${report.startError}\n  to cut the log at the first bad record: idnc repair --yes --data-dir ${dataDir}\n`);
  return report.startable ? 0 : 1;
}

function octal(file: ExposedFile): string {
  return `0${file.mode.toString(8)}`;
}
