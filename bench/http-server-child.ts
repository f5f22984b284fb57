// One server of bench/http-status.bench.ts in a process of its own, as `idnc serve` runs: the
// servers compared share neither a process nor its JIT state (in one process, code that two apps
// share is compiled for both, and Fastify's boot left process.nextTick's feedback megamorphic).
// argv: one JSON ServerSpec. Tells its parent `{ port }` once listening; answers `'cpu'` with its
// process.cpuUsage(); `'close'` closes and exits.

import os from 'node:os';
import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { openDnc } from '../src/open.js';
import { buildApp } from '../src/http/app.js';
import { KeyStore } from '../src/keys/key-store.js';
import type { ServerSpec } from './http-status.bench.js';

const { variant, keyId, keyHash, phone, listedNumbers, bareShortPath } = JSON.parse(process.argv[2]!) as ServerSpec;

let app: FastifyInstance;
let close: () => Promise<void>;
if (variant === 'bare') {
  app = Fastify();
  // The status request's own path (the bare route ignores its query and headers), and a short one.
  app.get('/app/main/rpc/pdnc', async () => 'ok');
  app.get(bareShortPath, async () => 'ok');
  close = () => app.close();
} else {
  const dnc = await openDnc();
  const listed = Array.from({ length: listedNumbers }, (_, i) => `${200 + (i % 700)}555${String(i).padStart(4, '0')}`);
  await dnc.add([...listed, phone]);
  const keys = new KeyStore([
    // A dialer-fleet key: its rate limit is raised far above what one machine serves, so the bucket
    // is checked on every request (its cost is measured) but never refuses one.
    { id: keyId, name: null, org: 'default', scopes: ['read'], rateLimit: 1_000_000, createdAt: new Date().toISOString(), revokedAt: null, hash: keyHash },
  ]);
  const logger = pino({ level: 'info' }, pino.destination({ dest: os.devNull, sync: true }));
  app = buildApp({ dnc, keys, logger, accessLog: variant === 'access-log', statusFastPath: variant !== 'through-fastify' });
  close = async () => {
    await app.close();
    await dnc.close();
  };
}
await app.listen({ host: '127.0.0.1', port: 0 });
process.on('message', (message) => {
  if (message === 'cpu') process.send!({ cpu: process.cpuUsage() });
  if (message === 'close') void close().then(() => process.exit(0));
});
process.send!({ port: (app.server.address() as AddressInfo).port });
