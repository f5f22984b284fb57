// Vitest global setup of the projects that hold the NATS tests: when `nats-server` is not on PATH
// those tests skip, and this prints the one loud line of the run that says so and how to install
// it (each test file deciding alone would print it once per file). Under IDNC_REQUIRE_NATS=1 (CI)
// it fails the run instead.

import { natsAvailable, natsSkipNotice } from './nats-cluster.js';

export default function setup(): void {
  if (!natsAvailable()) console.warn(`\n${natsSkipNotice()}\n`);
}
