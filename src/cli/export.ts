// `idnc export`: writes one list, sorted, to stdout or --out FILE, as text (one number per line) or
// CSV (a `phone` header, then one number per row). It opens the data directory read-only, which never
// takes the writer lock, so it works beside a running server (it exports the state on disk when it
// starts). Memory stays constant in the list size beyond the loaded state: one area code's numbers
// are materialised at a time and written in slices of EXPORT_WRITE_NUMBERS, waiting for the output
// to drain. --out writes a temporary file and renames it into place, so a failed export leaves no
// half file behind.

import fs from 'node:fs';
import path from 'node:path';
import type { Writable } from 'node:stream';
import type { Command } from 'commander';
import { ConfigError, resolveDataDir } from './config.js';
import { EXPORT_WRITE_NUMBERS, FILE_MODE_OWNER_ONLY } from '../constants.js';
import type { Dnc } from '../engine/views.js';
import { openDnc } from '../open.js';
import { IdncError } from '../errors.js';
import { checkListAddress, type ListAddress } from '../store/list-id.js';

interface ExportFlags {
  dataDir?: string;
  org?: string;
  project?: string;
  format?: string;
  out?: string;
}

export function registerExportCommand(program: Command): void {
  program
    .command('export')
    .description('write a list, sorted, to stdout or a file (works beside a running server)')
    .option('--data-dir <dir>', 'data directory (env IDNC_DATA_DIR, default ./snapshots)')
    .option('--org <org>', 'organisation (default "default")')
    .option('--project <projId>', 'project list (default: the master list)')
    .option('--format <format>', 'txt (one number per line) or csv (with a phone header)', 'txt')
    .option('--out <file>', 'write to this file instead of stdout')
    .action(async (flags: ExportFlags) => {
      process.exitCode = await runExport(flags);
    });
}

export async function runExport(flags: ExportFlags): Promise<number> {
  let dnc: Dnc | undefined;
  try {
    const format = flags.format ?? 'txt';
    if (format !== 'txt' && format !== 'csv') throw new ConfigError(`--format ${JSON.stringify(format)}: expected txt or csv`);
    const address = checkListAddress({ org: flags.org, projId: flags.project });
    const dataDir = resolveDataDir(flags.dataDir);
    if (!fs.existsSync(dataDir)) throw new ConfigError(`data directory ${dataDir} does not exist`);
    dnc = await openDnc({ dataDir, readOnly: true });
    const count = flags.out === undefined ? await writeList(dnc, address, format, process.stdout) : await writeFile(dnc, address, format, flags.out);
    process.stderr.write(`idnc export: ${count} numbers\n`);
    return 0;
  } catch (error) {
    if (error instanceof IdncError || error instanceof ConfigError) {
      process.stderr.write(`idnc export: ${error.message}\n`);
      return 1;
    }
    process.stderr.write(`idnc export: failed: ${(error as Error).stack ?? String(error)}\n`);
    return 1;
  } finally {
    await dnc?.close();
  }
}

async function writeFile(dnc: Dnc, address: ListAddress, format: string, out: string): Promise<number> {
  const target = path.resolve(out);
  const temporary = `${target}.${process.pid}.tmp`;
  const stream = fs.createWriteStream(temporary, { flags: 'wx', mode: FILE_MODE_OWNER_ONLY });
  try {
    const count = await writeList(dnc, address, format, stream);
    await new Promise<void>((resolve, reject) => stream.end((error?: Error | null) => (error ? reject(error) : resolve())));
    await fs.promises.rename(temporary, target);
    return count;
  } catch (error) {
    stream.destroy();
    await fs.promises.rm(temporary, { force: true });
    throw error;
  }
}

async function writeList(dnc: Dnc, address: ListAddress, format: string, out: Writable): Promise<number> {
  let count = 0;
  if (format === 'csv') await write(out, 'phone\n');
  for (const numbers of dnc.listNumbers(address)) {
    for (let start = 0; start < numbers.length; start += EXPORT_WRITE_NUMBERS) {
      const end = Math.min(numbers.length, start + EXPORT_WRITE_NUMBERS);
      let text = '';
      for (let i = start; i < end; i++) text += `${numbers[i]}\n`;
      await write(out, text);
    }
    count += numbers.length;
  }
  return count;
}

/** Writes and waits for the stream to drain when its buffer is full (a slow pipe holds memory flat). */
function write(out: Writable, text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (error: Error): void => reject(error);
    out.once('error', onError);
    const flushed = out.write(text);
    const done = (): void => {
      out.removeListener('error', onError);
      resolve();
    };
    if (flushed) done();
    else out.once('drain', done);
  });
}
