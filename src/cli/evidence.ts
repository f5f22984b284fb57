// Evidence from the command line (docs/history.md, "Evidence"):
//   idnc evidence PHONE --out FILE.json [--org O] [--project P] [--head HASH@SEQ] [--data-dir D]
//     writes a number's events with the proof that ties each to the head (the given one, else the
//     acknowledged head); read-only on the data directory, beside a running server or offline.
//   idnc verify-evidence FILE.json --head HASH@SEQ
//     checks such a file against a head saved elsewhere, with no data directory.
// The file holds personal data: it is written owner-only, through a temporary file renamed into
// place, so a failed run leaves no half file. Exit codes: 0 done (verified), 1 the data directory
// cannot give the evidence (it does not verify), 2 bad arguments or a file that cannot be read.

import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { parseHeadArgument } from '../history/chain.js';
import { buildEvidence } from '../history/evidence.js';
import { EVIDENCE_FORMAT, verifyEvidence } from '../history/evidence-verify.js';
import { readDurableMark } from '../persist/durable-mark.js';
import { nodeFileSystem } from '../persist/file-system.js';
import { EVIDENCE_FILE_BYTES_MAX } from '../constants.js';
import { IdncError } from '../errors.js';
import { parsePhone } from '../phone/phone-list.js';
import { checkOrganisationId, checkProjectId } from '../store/list-id.js';
import { resolveDataDir } from './config.js';

interface EvidenceFlags {
  out: string;
  org?: string;
  project?: string;
  head?: string;
  dataDir?: string;
}

export function registerEvidenceCommands(program: Command): void {
  program
    .command('evidence')
    .description("write a number's events with the proof a third party checks against a saved head (idnc verify-evidence)")
    .argument('<phone>', 'a 10-digit number')
    .requiredOption('--out <file>', 'the JSON file to write (owner-only: it holds personal data)')
    .option('--org <org>', 'organisation (default "default")')
    .option('--project <projId>', "only this project's changes (and the master list's)")
    .option('--head <hash@seq>', 'prove against this head, printed earlier by idnc history head (default: the current head)')
    .option('--data-dir <dir>', 'data directory (env IDNC_DATA_DIR, default ./snapshots)')
    .action(async (phone: string, flags: EvidenceFlags) => {
      process.exitCode = await writeEvidence(phone, flags);
    });
  program
    .command('verify-evidence')
    .description('check an evidence file against a saved head, without the data directory (exit 0 valid, 1 not, 2 bad arguments)')
    .argument('<file>', 'a file written by idnc evidence')
    .requiredOption('--head <hash@seq>', 'the head saved earlier (idnc history head)')
    .action(async (file: string, flags: { head: string }) => {
      process.exitCode = await checkEvidence(file, flags.head);
    });
}

async function writeEvidence(phone: string, flags: EvidenceFlags): Promise<number> {
  let number: number;
  let org: string;
  let projId: string;
  const head = flags.head === undefined ? undefined : parseHeadArgument(flags.head);
  try {
    number = parsePhone(phone);
    org = checkOrganisationId(flags.org);
    projId = checkProjectId(flags.project);
    if (head === null) throw new IdncError('INVALID_PARAMETER', `--head ${JSON.stringify(flags.head)}: expected HASH@SEQ (64 hex digits, @, a seq)`);
  } catch (error) {
    process.stderr.write(`idnc evidence: ${(error as Error).message}\n`);
    return 2;
  }
  const dataDir = resolveDataDir(flags.dataDir);
  try {
    const mark = await readDurableMark(dataDir);
    const acknowledged = mark.kind === 'ok' ? mark.mark.seq : null;
    if (head !== undefined && acknowledged !== null && head.seq > acknowledged) {
      throw new IdncError('INVALID_PARAMETER', `--head is at seq ${head.seq}, after the last acknowledged change (seq ${acknowledged})`);
    }
    const evidence = await buildEvidence(dataDir, number, { org, ...(projId === '' ? {} : { projId }) }, head?.seq ?? acknowledged, head?.hash);
    await writeOwnerOnly(flags.out, `${JSON.stringify(evidence, null, 1)}\n`);
    process.stdout.write(`${evidence.events.length} event(s) written to ${flags.out}, against the head ${evidence.head.hash}@${evidence.head.seq}\n`);
    return 0;
  } catch (error) {
    process.stderr.write(`idnc evidence: ${(error as Error).message}\n`);
    return 1;
  }
}

/** Writes `text` to `file` owner-only and durably: a new temporary file, fdatasync, rename, directory flush. */
async function writeOwnerOnly(file: string, text: string): Promise<void> {
  const temporary = `${file}.${process.pid}.tmp`;
  const fd = await nodeFileSystem.open(temporary, 'wx');
  try {
    await nodeFileSystem.writev(fd, [Buffer.from(text, 'utf8')], 0);
    await nodeFileSystem.fdatasync(fd);
  } catch (error) {
    await nodeFileSystem.close(fd);
    await nodeFileSystem.unlink(temporary).catch(() => undefined);
    throw error;
  }
  await nodeFileSystem.close(fd);
  await nodeFileSystem.rename(temporary, file);
  await nodeFileSystem.fsyncDirectory(path.dirname(path.resolve(file)));
}

async function checkEvidence(file: string, headText: string): Promise<number> {
  const head = parseHeadArgument(headText);
  if (head === null) {
    process.stderr.write(`idnc verify-evidence: --head ${JSON.stringify(headText)}: expected HASH@SEQ (64 hex digits, @, a seq)\n`);
    return 2;
  }
  let value: unknown;
  try {
    const { size } = await fs.promises.stat(file);
    if (size > EVIDENCE_FILE_BYTES_MAX) throw new Error(`${size} bytes, more than the ${EVIDENCE_FILE_BYTES_MAX} an evidence file may hold`);
    value = JSON.parse(await fs.promises.readFile(file, 'utf8'));
    if ((value as { format?: unknown } | null)?.format !== EVIDENCE_FORMAT) throw new Error(`not an ${EVIDENCE_FORMAT} file`);
  } catch (error) {
    process.stderr.write(`idnc verify-evidence: cannot read ${path.basename(file)} as JSON: ${(error as Error).message}\n`);
    return 2;
  }
  const verdict = verifyEvidence(value, head);
  if (!verdict.ok) {
    process.stderr.write(`idnc verify-evidence: does not verify: ${verdict.problem}\n`);
    return 1;
  }
  process.stdout.write(`ok: ${verdict.events} event(s) verified against the head ${head.hash}@${head.seq}\n`);
  return 0;
}
