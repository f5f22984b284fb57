// `idnc repair --yes [--data-dir D]`: keeps every record recovery can prove, cuts the log at the
// first bad record it needs, cuts the records a rejected-records marker names
// (src/persist/rejected-records.ts), and moves everything taken away into `repair-<time>-<random>/`
// inside the data directory (src/persist/repair.ts). Without --yes it prints the plan and changes
// nothing (exit 1), because a cut drops the changes recorded after the bad record.

import path from 'node:path';
import type { Command } from 'commander';
import type { EngineLogger } from '../logger.js';
import { describeRejectedCut, planRejectedCuts } from '../persist/rejected-records.js';
import { applyRepair, planRepair } from '../persist/repair.js';
import { DEFAULT_DATA_DIR } from './verify.js';

const cliLogger: EngineLogger = {
  info: (message) => process.stderr.write(`idnc repair: ${message}\n`),
  warn: (message) => process.stderr.write(`idnc repair: warning: ${message}\n`),
  error: (message) => process.stderr.write(`idnc repair: error: ${message}\n`),
};

export function registerRepairCommand(program: Command): void {
  program
    .command('repair')
    .description('cut the log at the first bad record startup needs (only with --yes; removed files are kept in repair-<time>-*/)')
    .option('--data-dir <dir>', 'data directory (default ./snapshots)')
    .option('--yes', 'really change the data directory')
    .action(async (flags: { dataDir?: string; yes?: boolean }) => {
      process.exitCode = await repair(flags.dataDir ?? process.env['IDNC_DATA_DIR'] ?? DEFAULT_DATA_DIR, flags.yes === true);
    });
}

export async function repair(dataDir: string, yes: boolean): Promise<number> {
  const resolved = path.resolve(dataDir);
  try {
    const plan = await planRepair(resolved);
    const rejectedCuts = await planRejectedCuts(resolved);
    if (plan.impossible !== null) {
      process.stderr.write(`idnc repair: cannot repair ${resolved}: ${plan.impossible}\n`);
      return 1;
    }
    if (plan.cut === null && plan.moveAside.length === 0 && rejectedCuts.length === 0) {
      process.stdout.write(`nothing to repair in ${resolved}\n`);
      return 0;
    }
    const { cut } = plan;
    if (cut !== null && cut.keptFrom === null) {
      process.stdout.write(`cut ${cut.file} at offset ${cut.offset}, keeping records up to seq ${cut.afterSeq}\n`);
    } else if (cut !== null && cut.keptFrom !== null) {
      process.stdout.write(
        `replace ${cut.file} by ${cut.keptFrom.file}: its bytes ${cut.keptFrom.offset} to ${cut.offset}, the records after the snapshot, ` +
          `keeping records up to seq ${cut.afterSeq}\n`,
      );
    }
    for (const file of plan.moveAside) process.stdout.write(`move aside ${file}\n`);
    for (const cut of rejectedCuts) process.stdout.write(`${describeRejectedCut(cut)}\n`);
    if (!yes) {
      process.stdout.write('nothing changed: run again with --yes to do this (changes after the cut are lost)\n');
      return 1;
    }
    const result = await applyRepair(resolved, plan, cliLogger);
    process.stdout.write(`repaired: state up to seq ${result.lastSeq}; removed data kept in ${result.backupDir}\n`);
    return 0;
  } catch (error) {
    process.stderr.write(`idnc repair: ${(error as Error).message}\n`);
    return 1;
  }
}
