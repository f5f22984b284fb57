// The hooks every NATS test file repeated: one 3-node cluster for the file (started before its first
// test; stopped after its last, with any nats-server the file left running), and for each test a
// stream name of its own and temp directories, made before it and removed after it, once what the
// test opened is closed (engines it handed to closeAfter, the last opened first, then
// `afterEachTest`: servers to kill). Call it inside the file's describe.

import { afterAll, afterEach, beforeAll, beforeEach } from 'vitest';
import { makeTempDir, removeDir } from '../persist/helpers.js';
import { NatsCluster, stopAllNats } from './nats-cluster.js';

export interface NatsSuiteOptions<Dir extends string> {
  /** Each test's stream is `<streamPrefix><n>`, a new n per test (absent: the tests name their streams). */
  readonly streamPrefix?: string;
  /** The temp directories each test gets, by name: the prefix of each. */
  readonly dirPrefixes?: Readonly<Record<Dir, string>>;
  /** After each test, once its engines are closed and before its directories are removed. */
  readonly afterEachTest?: () => Promise<void>;
  /** After the last test, before the cluster is stopped. */
  readonly afterAllTests?: () => Promise<void>;
}

export interface NatsSuite<Dir extends string> {
  /** The file's cluster (set before its first test). */
  readonly cluster: NatsCluster;
  /** This test's stream. */
  readonly stream: string;
  /** This test's temp directories, by name. */
  readonly dirs: Readonly<Record<Dir, string>>;
  /** Closes `engine` after this test. */
  closeAfter<T extends { close(): Promise<unknown> }>(engine: T): T;
}

export function natsSuite<Dir extends string = never>(options: NatsSuiteOptions<Dir>): NatsSuite<Dir> {
  let cluster: NatsCluster | undefined;
  let streamIndex = 0;
  let stream = '';
  let dirs = {} as Record<Dir, string>;
  const opened: { close(): Promise<unknown> }[] = [];
  beforeAll(async () => {
    cluster = await NatsCluster.start();
  }, 30_000);
  afterAll(async () => {
    await options.afterAllTests?.();
    await cluster?.stop();
    await stopAllNats();
  });
  beforeEach(async () => {
    if (options.streamPrefix !== undefined) stream = `${options.streamPrefix}${++streamIndex}`;
    const made = {} as Record<Dir, string>;
    for (const [name, prefix] of Object.entries(options.dirPrefixes ?? {}) as [Dir, string][]) made[name] = await makeTempDir(prefix);
    dirs = made;
  });
  afterEach(async () => {
    for (const engine of opened.splice(0).reverse()) await engine.close().catch(() => undefined);
    await options.afterEachTest?.();
    for (const dir of Object.values<string>(dirs)) await removeDir(dir);
  });
  return {
    get cluster() {
      if (cluster === undefined) throw new Error('the NATS cluster is not started (natsSuite outside a describe, or its start failed)');
      return cluster;
    },
    get stream() {
      return stream;
    },
    get dirs() {
      return dirs;
    },
    closeAfter(engine) {
      opened.push(engine);
      return engine;
    },
  };
}
