// A dialer loop that embeds idnc: it follows the server's data directory read-only, checks every
// number with a local, synchronous lookup right before "dialing" it, and stops dialing while its
// copy of the list may be stale (lagMs above the threshold), resuming once it has caught up.
//
//   npx tsx examples/dialer.ts --data-dir ./snapshots [--call-list FILE] [--project P] [--org O]
//                              [--stale-after-ms 1000] [--dial-ms 200] [--calls N]
//
// FILE has one number per line (default: random numbers). In your own code import from 'idnc'.
// Numbers are never printed: only their position in the call list.

import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { IdncError, openDnc, parsePhone } from '../src/index.js';

const { values } = parseArgs({
  options: {
    'data-dir': { type: 'string', default: './snapshots' },
    'call-list': { type: 'string' },
    org: { type: 'string', default: 'default' },
    project: { type: 'string' },
    'stale-after-ms': { type: 'string', default: '1000' },
    'dial-ms': { type: 'string', default: '200' },
    calls: { type: 'string' },
  },
});

const staleAfterMs = Number(values['stale-after-ms']);
const dialMs = Number(values['dial-ms']);
const callList = values['call-list'] === undefined
  ? Array.from({ length: 1000 }, () => String(2_000_000_000 + Math.floor(Math.random() * 7_999_999_999)))
  : fs.readFileSync(values['call-list'], 'utf8').split('\n').map((line) => line.trim()).filter((line) => line !== '');
const calls = values.calls === undefined ? callList.length : Math.min(Number(values.calls), callList.length);
const list = { org: values.org, ...(values.project === undefined ? {} : { projId: values.project }) };

const dnc = await openDnc({ dataDir: values['data-dir'], readOnly: true, staleAfterMs });
dnc.on('stale', (lagMs) => console.log(`list may be stale (${lagMs} ms behind the server): pausing`));
dnc.on('fresh', () => console.log('list caught up: dialing again'));
let stopping = false;
process.once('SIGINT', () => (stopping = true));
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

let dialed = 0;
let skipped = 0;
for (let i = 0; i < calls && !stopping; i++) {
  // Never dial on a list that may be stale: wait until the follower has caught up again.
  while (dnc.lagMs > staleAfterMs && !stopping) await sleep(50);
  const phone = callList[i]!;
  try {
    parsePhone(phone);
  } catch (error) {
    if (!(error instanceof IdncError)) throw error;
    console.log(`call ${i + 1}/${calls}: not a valid number (${error.code}), skipped`);
    skipped++;
    continue;
  }
  if (dnc.isBlocked(phone, list)) {
    console.log(`call ${i + 1}/${calls}: on the do-not-call list, skipped`);
    skipped++;
    continue;
  }
  console.log(`call ${i + 1}/${calls}: dialing (list at seq ${dnc.lastSeq}, ${dnc.lagMs} ms behind)`);
  dialed++;
  await sleep(dialMs);
}
console.log(`done: ${dialed} dialed, ${skipped} skipped`);
await dnc.close();
