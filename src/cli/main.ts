#!/usr/bin/env node
// The `idnc` command line: parses argv with commander and hands each command to its own module.

import { Command } from 'commander';
import { registerExportCommand } from './export.js';
import { registerImportCommand } from './import.js';
import { registerKeysCommand } from './keys.js';
import { registerListsCommand } from './lists.js';
import { packageVersion } from '../package-info.js';
import { registerRepairCommand } from './repair.js';
import { registerServeCommand } from './serve.js';
import { registerVerifyCommand } from './verify.js';
import { registerHistoryCommand } from './history.js';
import { registerEvidenceCommands } from './evidence.js';
import { registerReportCommand } from './report.js';

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('idnc')
    .description('Internal Do-Not-Call list engine: in-memory Roaring lookups, durable log, DNCScrub-compatible HTTP API')
    .version(packageVersion(), '-v, --version', 'print the idnc version');
  registerServeCommand(program);
  registerKeysCommand(program);
  registerVerifyCommand(program);
  registerRepairCommand(program);
  registerImportCommand(program);
  registerExportCommand(program);
  registerListsCommand(program);
  registerHistoryCommand(program);
  registerEvidenceCommands(program);
  registerReportCommand(program);
  return program;
}

await buildProgram().parseAsync(process.argv);
