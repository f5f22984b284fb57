// `idnc keys create|list|revoke`: manage the API keys in `<data-dir>/keys.json`, whether or not a
// server runs on that directory (it picks changes up by itself). `create` prints the key alone on
// stdout so scripts can capture it; every explanation goes to stderr. Secrets and hashes are never
// printed by `list`.

import type { Command } from 'commander';
import { ConfigError, resolveDataDir } from './config.js';
import { createKey, listKeys, revokeKey, setRateLimit } from '../keys/key-admin.js';
import { KeyInputError, KeysFileError, parseProjects, parseRateLimit, parseScopes, rateLimitOf, type KeyRecord } from '../keys/key-records.js';

interface DataDirFlags {
  dataDir?: string;
}

interface CreateFlags extends DataDirFlags {
  org: string;
  scopes: string;
  projects?: string;
  name?: string;
  rateLimit?: string;
}

const DATA_DIR_HELP = 'data directory holding keys.json (env IDNC_DATA_DIR, default ./snapshots)';

/** Runs a command body; user errors become one line on stderr and exit code 1. */
async function run(body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (error) {
    if (error instanceof KeyInputError || error instanceof KeysFileError || error instanceof ConfigError) {
      process.stderr.write(`idnc keys: ${error.message}\n`);
      process.exitCode = 1;
      return;
    }
    throw error;
  }
}

function describe(record: KeyRecord): string {
  const projects = record.projects === undefined ? 'all lists' : `projects ${record.projects.join(',')}`;
  const rate = rateLimitOf(record) === 0 ? 'no rate limit' : `${rateLimitOf(record)} requests/s`;
  return `key ${record.id}${record.name === null ? '' : ` (${record.name})`}: organisation ${record.org}, scopes ${record.scopes.join(',')}, ${projects}, ${rate}`;
}

function publicView(record: KeyRecord): Omit<KeyRecord, 'hash'> {
  const { hash: _hash, ...rest } = record;
  return rest;
}

function table(records: readonly KeyRecord[]): string {
  const rows = [['ID', 'NAME', 'ORG', 'SCOPES', 'PROJECTS', 'RATE/S', 'CREATED', 'REVOKED']];
  for (const r of records) {
    const rate = rateLimitOf(r) === 0 ? 'unlimited' : String(rateLimitOf(r));
    rows.push([r.id, r.name ?? '-', r.org, r.scopes.join(','), r.projects?.join(',') ?? '*', rate, r.createdAt, r.revokedAt ?? '-']);
  }
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows.map((row) => row.map((cell, column) => cell.padEnd(widths[column]!)).join('  ').trimEnd()).join('\n');
}

export function registerKeysCommand(program: Command): void {
  const keys = program.command('keys').description('manage API keys (keys.json in the data directory)');
  keys
    .command('create')
    .description('create an API key and print it, alone, on stdout (shown only once)')
    .requiredOption('--org <org>', 'organisation the key belongs to')
    .option('--scopes <scopes>', 'comma-separated: read (status, count), write (add, remove), admin (everything in its organisation), operator (server-wide /metrics)', 'read,write')
    .option('--projects <projects>', 'limit the key to these projects (comma-separated); it then cannot use the master list')
    .option('--name <name>', 'a name to recognise (and revoke) the key by')
    .option('--rate-limit <n>', 'requests per second this key may make, 0 = unlimited (default 1000)')
    .option('--data-dir <dir>', DATA_DIR_HELP)
    .action((flags: CreateFlags) =>
      run(async () => {
        const request = {
          org: flags.org,
          scopes: parseScopes(flags.scopes),
          ...(flags.projects === undefined ? {} : { projects: parseProjects(flags.projects) }),
          ...(flags.name === undefined ? {} : { name: flags.name }),
          ...(flags.rateLimit === undefined ? {} : { rateLimit: parseRateLimit(flags.rateLimit) }),
        };
        const created = await createKey(resolveDataDir(flags.dataDir), request);
        process.stdout.write(`${created.key}\n`);
        process.stderr.write(`created ${describe(created.record)}\nThe key above is shown only this once; a running server accepts it within a second.\n`);
      }),
    );
  keys
    .command('list')
    .description('list the keys (ids, names, organisations, scopes; never secrets)')
    .option('--json', 'print JSON records instead of a table')
    .option('--data-dir <dir>', DATA_DIR_HELP)
    .action((flags: DataDirFlags & { json?: boolean }) =>
      run(async () => {
        const records = await listKeys(resolveDataDir(flags.dataDir));
        if (flags.json === true) process.stdout.write(`${JSON.stringify(records.map(publicView), null, 2)}\n`);
        else process.stdout.write(`${table(records)}\n`);
      }),
    );
  keys
    .command('revoke')
    .description('revoke a key by id or name; a running server refuses it within a second')
    .argument('<idOrName>', 'key id (from idnc keys list) or key name')
    .option('--data-dir <dir>', DATA_DIR_HELP)
    .action((idOrName: string, flags: DataDirFlags) =>
      run(async () => {
        const revoked = await revokeKey(resolveDataDir(flags.dataDir), idOrName);
        process.stderr.write(`revoked ${describe(revoked)}\n`);
      }),
    );
  keys
    .command('set-rate-limit')
    .description('set the requests per second a key may make (0 = unlimited); a running server applies it within a second')
    .argument('<idOrName>', 'key id (from idnc keys list) or key name')
    .argument('<n>', 'requests per second, 0 = unlimited')
    .option('--data-dir <dir>', DATA_DIR_HELP)
    .action((idOrName: string, n: string, flags: DataDirFlags) =>
      run(async () => {
        const changed = await setRateLimit(resolveDataDir(flags.dataDir), idOrName, parseRateLimit(n));
        process.stderr.write(`updated ${describe(changed)}\n`);
      }),
    );
}
