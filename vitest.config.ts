// Vitest configuration: three tiers, so `npm run test:unit` is a fast loop and `npm test` runs all.
//   unit         in this process, starting no idnc process: the library, the store, persistence
//                on temp dirs, the HTTP app through inject() and in-process sockets.
//   integration  starts child processes from the built `dist/` (the CLI, a server, a follower): a
//                global setup compiles `dist/` first when a source file is newer than its output.
//   slow         crash cycles, cluster spawns, bench smoke, the simulator's seeds and the fuzzers.
// A new test file is unit unless it is listed below.
// Where tests live: test/<dir>/<name>.test.ts tests src/<dir>/<name>.ts, and further files on the
// same module are test/<dir>/<name>.<topic>.test.ts (follower.durability, app.fuzz); a test through
// a command or a server is named after the module whose behaviour it checks. test/keys/keys.test.ts
// covers the keys folder as a whole; test/bench and test/examples mirror bench/ and examples/;
// test/durability holds the crash and fault-simulator experiments. Helpers sit beside their tests.

import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

const integration = [
  'test/cli/evidence.test.ts',
  'test/cli/report.test.ts',
  'test/cli/import.test.ts',
  'test/cli/lists.test.ts',
  'test/cli/main.test.ts',
  'test/cli/serve.fail-stop.test.ts',
  'test/cli/serve.hardening.test.ts',
  'test/cli/serve.test.ts',
  'test/cli/verify.test.ts',
  'test/durability/http-storage.test.ts',
  'test/engine/follower.process.test.ts',
  'test/engine/dnc.kinds.test.ts',
  'test/examples/dialer.test.ts',
  'test/http/access-log.test.ts',
  'test/keys/key-store.reload-log.test.ts',
  'test/persist/file-modes.test.ts',
  'test/persist/log-writer.test.ts',
  'test/persist/recovery.test.ts',
  'test/persist/writer-lock.test.ts',
  'test/replicate/nats-cluster.test.ts',
  'test/cli/serve.replicate.test.ts',
  'test/cli/serve.key-replication.test.ts',
  'test/replicate/replicated-log.test.ts',
  'test/replicate/stream-follower.test.ts',
  'test/replicate/key-replication.test.ts',
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

const globalSetup = ['./test/global-setup.ts', './test/replicate/nats-notice.ts'];

export default defineConfig({
  test: {
    // Per test, unless it says otherwise: far above any test's time on a loaded 2-core machine (the
    // property tests take 3-6 s there), so that only a hang reaches it.
    testTimeout: 30_000,
    // Two test files at a time even on 2 cores (vitest's default is one fewer than the cores): most
    // of the suite's time is spent waiting on child processes, NATS servers and fsync, not on CPU.
    // Measured: the whole suite passed with 2 workers beside a load average of 7.
    maxWorkers: Math.max(2, availableParallelism() - 1),
    projects: [
      { extends: true, test: { name: 'unit', include: ['test/**/*.test.ts'], exclude: [...integration, ...slow] } },
      { extends: true, test: { name: 'integration', include: integration, globalSetup } },
      { extends: true, test: { name: 'slow', include: slow, globalSetup } },
    ],
  },
});
