// The follower side of bench/replication.bench.ts, in its own process and connected to the writer
// only through NATS: follows the stream on the built library and prints `<seq> <epoch ms,
// sub-millisecond>` for each time it has applied records, after `open <seq>`. Stops when stdin
// closes. Each line is timed when the event fires but written every FLUSH_MS: a pipe write per event
// was the largest cost in the follower's CPU profile and woke the writer's process for every line,
// so the measurement slowed what it measured.

import { openDnc } from '../dist/index.js';

const FLUSH_MS = 50;
const dnc = await openDnc({ follow: { servers: process.argv[2], stream: process.argv[3] } });
const now = () => performance.timeOrigin + performance.now();
let lines = '';
const flush = () => {
  if (lines === '') return;
  process.stdout.write(lines);
  lines = '';
};
dnc.on('applied', (seq) => (lines += `${seq} ${now().toFixed(3)}\n`));
const flushTimer = setInterval(flush, FLUSH_MS);
process.stdout.write(`open ${dnc.lastSeq}\n`);
process.stdin.resume();
process.stdin.on('end', () => {
  clearInterval(flushTimer);
  flush();
  void dnc.close().then(() => process.exit(0));
});
