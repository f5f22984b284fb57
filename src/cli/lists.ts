// `idnc lists [--org ORG] [--json]`: the lists of one organisation, or of every one, with how many
// numbers each holds, read a page at a time from the data directory opened read-only (as `idnc
// export` does: no writer lock, so it works beside a running server and shows the state on disk).
// `idnc lists drop --org ORG --project P --yes`: drops a project list as one durable change. That
// needs the writer, so with a server running on the directory it is refused (DATA_DIR_LOCKED) and
// points to `DELETE /v1/lists/P`; without --yes it only says what it would drop (exit 1, as repair).

import fs from 'node:fs';
import type { Command } from 'commander';
import { ConfigError, resolveDataDir } from './config.js';
import { LISTS_PAGE_LIMIT_MAX } from '../constants.js';
import type { Dnc } from '../engine/views.js';
import { IdncError } from '../errors.js';
import { DurableDnc, openDnc } from '../open.js';
import { checkListAddress, checkOrganisationId, MASTER_LIST, type ListAddress } from '../store/list-id.js';
import { CLI_KEY_ID } from '../history/change-meta.js';

interface ListsFlags {
  dataDir?: string;
  org?: string;
  json?: boolean;
}

interface DropFlags {
  dataDir?: string;
  org?: string;
  project?: string;
  yes?: boolean;
}

export function registerListsCommand(program: Command): void {
  const lists = program
    .command('lists')
    .description('list the lists and their sizes, of one organisation or all (read-only, works beside a running server)')
    .option('--data-dir <dir>', 'data directory (env IDNC_DATA_DIR, default ./snapshots)')
    .option('--org <org>', 'only this organisation (default: every organisation); lists drop: required')
    .option('--json', 'print {"lists": [{"org", "projId", "numbers"}]} ("" is the master list)')
    .action(async (flags: ListsFlags) => {
      process.exitCode = await runLists(flags);
    });
  // --org and --data-dir are options of `lists`, which commander reads wherever they stand.
  lists
    .command('drop')
    .description('drop a project list of --org as one durable change (only with --yes; needs the writer: with a server running, use DELETE /v1/lists/{projId})')
    .option('--project <projId>', 'the project list to drop')
    .option('--yes', 'really drop it')
    .action(async (_flags: unknown, command: Command) => {
      process.exitCode = await runDrop(command.optsWithGlobals<DropFlags>());
    });
}

/** The data directory, which must exist: neither command creates one. */
function existingDataDir(flag: string | undefined): string {
  const dataDir = resolveDataDir(flag);
  if (!fs.existsSync(dataDir)) throw new ConfigError(`data directory ${dataDir} does not exist`);
  return dataDir;
}

/** Refusals a user can act on are one line; anything else is a bug and shows its stack. */
function reportFailure(command: string, error: unknown): number {
  if (error instanceof IdncError || error instanceof ConfigError) process.stderr.write(`idnc ${command}: ${error.message}\n`);
  else process.stderr.write(`idnc ${command}: failed: ${(error as Error).stack ?? String(error)}\n`);
  return 1;
}

export async function runLists(flags: ListsFlags): Promise<number> {
  let dnc: Dnc | undefined;
  try {
    const only = flags.org === undefined ? null : checkOrganisationId(flags.org);
    dnc = await openDnc({ dataDir: existingDataDir(flags.dataDir), readOnly: true });
    const orgs = only !== null ? [only] : dnc.stats().organisations.map((organisation) => organisation.org);
    let count = 0;
    if (flags.json === true) process.stdout.write('{"lists":[');
    for (const org of orgs) {
      for (const list of listsOf(dnc, org)) {
        const line = flags.json === true ? `${count === 0 ? '' : ','}\n${JSON.stringify({ org, ...list })}` : `${org}\t${list.projId === MASTER_LIST ? '(master)' : list.projId}\t${list.numbers}\n`;
        if (!process.stdout.write(line)) await new Promise((resolve) => process.stdout.once('drain', resolve));
        count++;
      }
    }
    if (flags.json === true) process.stdout.write('\n]}\n');
    process.stderr.write(`idnc lists: ${count} lists\n`);
    return 0;
  } catch (error) {
    return reportFailure('lists', error);
  } finally {
    await dnc?.close();
  }
}

/** Every list of `org` that holds numbers, a page at a time. */
function* listsOf(dnc: Dnc, org: string): IterableIterator<{ projId: string; numbers: number }> {
  let after: string | undefined;
  do {
    const page = dnc.lists({ org, limit: LISTS_PAGE_LIMIT_MAX, ...(after === undefined ? {} : { after }) });
    yield* page.lists;
    after = page.next ?? undefined;
  } while (after !== undefined);
}

export async function runDrop(flags: DropFlags): Promise<number> {
  try {
    if (flags.org === undefined) throw new ConfigError('give --org: the organisation whose list to drop');
    if (flags.project === undefined || flags.project === '') throw new ConfigError('give --project: the project list to drop (the master list cannot be dropped)');
    const address = checkListAddress({ org: flags.org, projId: flags.project });
    const dataDir = existingDataDir(flags.dataDir);
    if (flags.yes !== true) return await describeDrop(dataDir, address);
    return await drop(dataDir, address);
  } catch (error) {
    return reportFailure('lists drop', error);
  }
}

async function describeDrop(dataDir: string, address: ListAddress): Promise<number> {
  const dnc = await openDnc({ dataDir, readOnly: true });
  try {
    const numbers = dnc.count(address);
    if (numbers === 0) throw new IdncError('LIST_NOT_FOUND', `organisation ${JSON.stringify(address.org)} has no list ${JSON.stringify(address.projId)}`);
    process.stdout.write(`would drop list ${JSON.stringify(address.projId)} of organisation ${JSON.stringify(address.org)} (${numbers} numbers)\n`);
    process.stdout.write('nothing changed: run again with --yes to drop it\n');
    return 1;
  } finally {
    await dnc.close();
  }
}

async function drop(dataDir: string, address: ListAddress): Promise<number> {
  let dnc: DurableDnc;
  try {
    dnc = await DurableDnc.open({ dataDir });
  } catch (error) {
    if (!(error instanceof IdncError) || error.code !== 'DATA_DIR_LOCKED') throw error;
    throw new IdncError(
      'DATA_DIR_LOCKED',
      `${error.message}. A server runs on ${dataDir}: drop the list through it with an admin key, DELETE /v1/lists/${address.projId}`,
    );
  }
  try {
    const result = await dnc.dropList({ ...address, keyId: CLI_KEY_ID });
    process.stdout.write(`dropped list ${JSON.stringify(address.projId)} of organisation ${JSON.stringify(address.org)}: ${result.numbers} numbers, seq ${result.seq}\n`);
    return 0;
  } finally {
    await dnc.close();
  }
}
