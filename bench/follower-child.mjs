// The follower side of bench/follower.bench.ts, in its own process (so it shares neither the
// writer's event loop nor its CPU accounting), on the built library: opens the data directory
// read-only and prints `<seq> <epoch ms, sub-millisecond>` each time it has applied records, after
// `open <seq>`. Stops when its stdin closes.

import { openDnc } from '../dist/index.js';

const dnc = await openDnc({ dataDir: process.argv[2], readOnly: true });
const now = () => performance.timeOrigin + performance.now();
dnc.on('applied', (seq) => process.stdout.write(`${seq} ${now().toFixed(3)}\n`));
process.stdout.write(`open ${dnc.lastSeq}\n`);
process.stdin.resume();
process.stdin.on('end', () => {
  void dnc.close().then(() => process.exit(0));
});
