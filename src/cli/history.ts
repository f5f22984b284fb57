// The compliance history from the command line (docs/history.md), read-only from the files: offline
// or beside a running server, whose durable-seq mark bounds every answer to acknowledged changes (a
// record being written is never shown, nor a head).
//   idnc history PHONE [--org O] [--project P] [--json]   every change that touched the number
//   idnc status-at PHONE --at TIME [--org O] [--project P] [--json]   what status said at TIME
//   idnc history head                                      the head of the hash chain, as JSON
// Exit codes: 0 printed, 1 the files cannot be read as needed (run `idnc verify`), 2 bad arguments.

import path from 'node:path';
import type { Command } from 'commander';
import { headOf } from '../history/chain.js';
import { walkChain } from '../history/chain-walk.js';
import { chainStart } from '../history/snapshot-chain.js';
import { listDataDir } from '../persist/data-dir.js';
import { readDurableMark } from '../persist/durable-mark.js';
import { resolveDataDir } from './config.js';
import { IdncError } from '../errors.js';
import { withKeyName, type KeyNameOf } from '../history/key-name.js';
import { HistoryReader, type HistoryEvent } from '../history/query.js';
import { keysFilePath, readKeysFile } from '../keys/key-file.js';
import { formatDigits } from '../phone/digits.js';
import { parsePhone } from '../phone/phone-list.js';
import { checkOrganisationId, checkProjectId } from '../store/list-id.js';
import { ISO_INSTANT } from '../history/change-meta.js';

interface QueryFlags {
  dataDir?: string;
  org?: string;
  project?: string;
  json?: boolean;
  at?: string;
}

export function registerHistoryCommand(program: Command): void {
  program
    .command('history')
    .description('every change that touched a number, oldest first (read-only); `idnc history head` prints the hash chain head')
    .argument('<phone>', 'a 10-digit number, or head')
    .option('--data-dir <dir>', 'data directory (env IDNC_DATA_DIR, default ./snapshots)')
    .option('--org <org>', 'organisation (default "default")')
    .option('--project <projId>', "only this project's changes (and the master list's)")
    .option('--json', 'print JSON: {"phone", "events": [...]}')
    .action(async (phone: string, flags: QueryFlags) => {
      process.exitCode = phone === 'head' ? await printHead(resolveDataDir(flags.dataDir)) : await runQuery('history', phone, flags);
    });
  program
    .command('status-at')
    .description('what status would have answered for a number at an instant, from the history (read-only)')
    .argument('<phone>', 'a 10-digit number')
    .requiredOption('--at <time>', 'ISO 8601 with a zone, like 2026-03-01T15:04:05Z')
    .option('--data-dir <dir>', 'data directory (env IDNC_DATA_DIR, default ./snapshots)')
    .option('--org <org>', 'organisation (default "default")')
    .option('--project <projId>', 'the project list status checks first (default: the master list only)')
    .option('--json', 'print JSON: {"phone", "at", "onList", "list", "since", "seq"}')
    .action(async (phone: string, flags: QueryFlags) => {
      process.exitCode = await runQuery('status-at', phone, flags);
    });
}

/** The seq a read-only reader may go up to: the writer's acknowledged seq, or every valid record without a mark. */
async function readableSeq(dataDir: string): Promise<number> {
  const mark = await readDurableMark(dataDir);
  return mark.kind === 'ok' ? mark.mark.seq : Number.MAX_SAFE_INTEGER;
}

async function runQuery(command: 'history' | 'status-at', phone: string, flags: QueryFlags): Promise<number> {
  let number: number;
  let org: string;
  let projId: string;
  let atMs = 0;
  try {
    number = parsePhone(phone);
    org = checkOrganisationId(flags.org);
    projId = checkProjectId(flags.project);
    if (command === 'status-at') {
      atMs = ISO_INSTANT.test((flags.at ?? '').trim()) ? Date.parse(flags.at!.trim()) : NaN;
      if (!Number.isSafeInteger(atMs) || atMs < 0) throw new IdncError('INVALID_PARAMETER', `--at ${JSON.stringify(flags.at)}: expected an ISO 8601 time with a zone, like 2026-03-01T15:04:05Z`);
    }
  } catch (error) {
    process.stderr.write(`idnc ${command}: ${(error as Error).message}\n`);
    return 2;
  }
  const dataDir = resolveDataDir(flags.dataDir);
  try {
    const reader = new HistoryReader(dataDir);
    const upToSeq = await readableSeq(dataDir);
    const digits = formatDigits(number);
    if (command === 'history') {
      const nameOf = await keyNames(dataDir);
      const events = (await reader.events(number, { org, ...(projId === '' ? {} : { projId }) }, upToSeq)).map((event) => withKeyName(event, nameOf));
      process.stdout.write(flags.json === true ? `${JSON.stringify({ phone: digits, events })}\n` : describeEvents(digits, org, events));
    } else {
      const answer = { phone: digits, at: new Date(atMs).toISOString(), ...(await reader.statusAt(number, atMs, { org, projId }, upToSeq)) };
      process.stdout.write(flags.json === true ? `${JSON.stringify(answer)}\n` : `${digits} at ${answer.at}: ${answer.onList ? `on the ${answer.list} list since ${answer.since}` : 'not on a list'} (log seq ${answer.seq})\n`);
    }
    return 0;
  } catch (error) {
    process.stderr.write(`idnc ${command}: cannot read ${dataDir}: ${(error as Error).message}\n`);
    return 1;
  }
}

/** The names of the data directory's API keys; none when keys.json is missing or unreadable (the history does not need them). */
async function keyNames(dataDir: string): Promise<KeyNameOf | undefined> {
  const file = await readKeysFile(keysFilePath(dataDir)).catch(() => undefined);
  if (file === undefined) return undefined;
  const names = new Map(file.keys.map((record) => [record.id, record.name]));
  return (keyId) => names.get(keyId);
}

function describeEvents(digits: string, org: string, events: readonly (HistoryEvent & { keyName?: string })[]): string {
  if (events.length === 0) return `${digits}: no change in organisation ${JSON.stringify(org)} is kept\n`;
  const lines = events.map((event) => {
    const list = event.projId === null ? 'master' : `project ${event.projId}`;
    const reason = event.reason === null ? '' : ` reason ${JSON.stringify(event.reason)}`;
    const part = event.import?.parts === undefined ? '' : `, part ${event.import.part} of ${event.import.parts}`;
    const input = event.import === undefined ? '' : `, import of ${event.import.count} numbers from ${JSON.stringify(event.import.name)} (${event.import.bytes} bytes, sha256 ${event.import.sha256}${part})`;
    return `  seq ${event.seq}  ${event.at}  ${event.op.padEnd(6)} ${list}  by ${event.keyId}${event.keyName === undefined ? '' : ` (${event.keyName})`} via ${event.source}, requested ${event.requestedAt}${reason}${input}`;
  });
  return `${digits} in organisation ${JSON.stringify(org)}, oldest first:\n${lines.join('\n')}\n`;
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
