// The follower side of bench/replication.bench.ts, in its own process and connected to the writer
// only through NATS: follows the stream on the built library and prints `<seq> <epoch ms,
// sub-millisecond>` each time it has applied records, after `open <seq>`. Stops when stdin closes.

import { openDnc } from '../dist/index.js';

const dnc = await openDnc({ follow: { servers: process.argv[2], stream: process.argv[3] } });
const now = () => performance.timeOrigin + performance.now();
dnc.on('applied', (seq) => process.stdout.write(`${seq} ${now().toFixed(3)}\n`));
process.stdout.write(`open ${dnc.lastSeq}\n`);
process.stdin.resume();
process.stdin.on('end', () => {
  void dnc.close().then(() => process.exit(0));
});
