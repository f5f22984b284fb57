// A dialer-like process for the follower tests: opens the BUILT library (dist/) read-only on a data
// directory and follows it. Plain JavaScript run by node, so module loading is tested as users meet
// it. Protocol: one JSON line per event on stdout, one JSON command per line on stdin.
//   out: {"event":"open","lastSeq"} | {"event":"applied","seq","at"} | {"event":"stale"|"fresh","lagMs"}
//        {"reply":<id>, ...} for each command
//   in:  {"id","cmd":"state","phones"?:[...]} -> lastSeq, lagMs, count, digest, blocked (per phone)
//        {"id","cmd":"close"} -> closes the follower and exits 0

import readline from 'node:readline';
import { openDnc } from '../../dist/index.js';

const dataDir = process.argv[2];
const staleAfterMs = Number(process.argv[3] ?? 1000);
const send = (message) => process.stdout.write(`${JSON.stringify(message)}\n`);

const dnc = await openDnc({ dataDir, readOnly: true, staleAfterMs });
dnc.on('applied', (seq) => send({ event: 'applied', seq, at: Date.now() }));
dnc.on('stale', (lagMs) => send({ event: 'stale', lagMs }));
dnc.on('fresh', (lagMs) => send({ event: 'fresh', lagMs }));
send({ event: 'open', lastSeq: dnc.lastSeq });

const lines = readline.createInterface({ input: process.stdin });
lines.on('line', async (line) => {
  const command = JSON.parse(line);
  if (command.cmd === 'state') {
    const phones = command.phones ?? [];
    send({
      reply: command.id,
      lastSeq: dnc.lastSeq,
      lagMs: dnc.lagMs,
      count: dnc.count(),
      digest: dnc.digest(),
      blocked: phones.map((phone) => dnc.isBlocked(phone)),
    });
  } else if (command.cmd === 'close') {
    await dnc.close();
    send({ reply: command.id });
    process.exit(0);
  }
});
lines.on('close', () => process.exit(0));
