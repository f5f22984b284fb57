// Vitest configuration: three tiers, so `npm run test:unit` is a fast loop and `npm test` runs all.
//   unit         one process, no child process: the library, the store, persistence on temp dirs,
//                the HTTP app through inject() and in-process sockets. Seconds.
//   integration  starts child processes from the built `dist/` (the CLI, a server, a follower): a
//                global setup compiles `dist/` first when a source file is newer than its output.
//   slow         crash cycles, cluster spawns, bench smoke, the simulator's seeds and the fuzzers.
// A new test file is unit unless it is listed below. Where tests live: test/<dir>/<name>.test.ts
// tests src/<dir>/<name>.ts, and test/<dir>/<name>.<topic>.test.ts one side of it; a test of how
// several modules work together (the follower beside a server, a crash cycle) sits in the folder of
// the module it is about, or in durability/ (the crash and fault-simulator experiments).

import { defineConfig } from 'vitest/config';

const integration = [
  'test/cli/serve.hardening.test.ts',
  'test/cli/import.test.ts',
  'test/cli/serve.fail-stop.test.ts',
  'test/cli/serve.test.ts',
  'test/cli/main.test.ts',
  'test/durability/http-storage.test.ts',
  'test/examples/dialer.test.ts',
  'test/engine/follower.process.test.ts',
  'test/http/access-log.test.ts',
  'test/keys/key-store.reload-log.test.ts',
  'test/persist/file-modes.test.ts',
  'test/persist/recovery.test.ts',
  'test/cli/verify.test.ts',
  'test/persist/log-writer.test.ts',
  'test/persist/writer-lock.test.ts',
];

const slow = [
  'test/bench/harness.test.ts',
  'test/bench/smoke.test.ts',
  'test/cli/serve-cluster.test.ts',
  'test/durability/crash.test.ts',
  'test/durability/simulator/simulator.test.ts',
  'test/http/app.fuzz.test.ts',
  'test/http/app.prototype-names.test.ts',
  'test/http/app.raw-socket-fuzz.test.ts',
];

const globalSetup = ['./test/global-setup.ts'];

export default defineConfig({
  test: {
    projects: [
      { extends: true, test: { name: 'unit', include: ['test/**/*.test.ts'], exclude: [...integration, ...slow] } },
      { extends: true, test: { name: 'integration', include: integration, globalSetup } },
      { extends: true, test: { name: 'slow', include: slow, globalSetup } },
    ],
  },
});
