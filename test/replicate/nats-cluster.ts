// A 3-node JetStream cluster of real `nats-server` processes for the replication tests: free
// loopback ports, one store directory per node under a temp dir. Readiness is read from each
// server's own log lines ("Server is ready", then a JetStream metadata leader known), never guessed
// with a sleep. Every process started here is stopped here (SIGKILL or SIGTERM, then its 'exit'
// event: a killed child can stay a zombie for a while, so a pid that exists proves nothing).
// `natsAvailable()` decides whether the NATS tests run: without `nats-server` on PATH they skip
// (one loud line per run, from nats-notice.ts), unless IDNC_REQUIRE_NATS=1 (CI), where they fail.

import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { freePort } from '../durability/server-process.js';
import { makeTempDir, removeDir } from '../persist/helpers.js';

const SERVER = 'nats-server';
const CLUSTER_NAME = 'idnc-test';
const NODES = 3;
/** Far above a start on a loaded 2-core machine (about 1 s): only a server that never comes up reaches it. */
const READY_TIMEOUT_MS = 20_000;

const HOW_TO_INSTALL = 'install it (Debian: apt-get install nats-server; elsewhere https://github.com/nats-io/nats-server/releases) to run them';

/**
 * True when `nats-server` runs here, else false: the NATS tests skip (the one line saying so is
 * printed once per run by nats-notice.ts), unless IDNC_REQUIRE_NATS=1 (CI), where this throws.
 */
export function natsAvailable(): boolean {
  if (onPath(SERVER)) return true;
  if (process.env.IDNC_REQUIRE_NATS === '1') throw new Error(`IDNC_REQUIRE_NATS=1 but nats-server is not on PATH: ${HOW_TO_INSTALL}`);
  return false;
}

/**
 * Whether an executable `name` is in a PATH directory: looked up, not run (running `nats-server
 * --version` in every test worker of a loaded machine failed now and then, and skipped the tests).
 */
function onPath(name: string): boolean {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir === '') continue;
    try {
      fs.accessSync(path.join(dir, name), fs.constants.X_OK);
      return true;
    } catch {
      // not in this directory
    }
  }
  return false;
}

/** The one loud line of a run whose NATS tests skip. */
export function natsSkipNotice(): string {
  return `*** SKIPPING the NATS replication tests: nats-server is not on PATH; ${HOW_TO_INSTALL} ***`;
}

interface NodeSpec {
  readonly name: string;
  readonly clientPort: number;
  readonly routePort: number;
  readonly storeDir: string;
}

/**
 * Every node started and not yet exited in this process: a cluster whose start a test gave up on
 * (a hook timeout) is not in any variable the test could stop, so stopAllNats() and, at the
 * latest, this process's exit kill them.
 */
const running = new Set<NatsNode>();
process.once('exit', () => {
  for (const node of running) node.killNow();
});

/** Kills every nats-server this process started and waits for each exit (afterAll of each NATS test file). */
export async function stopAllNats(): Promise<void> {
  await Promise.all([...running].map((node) => node.stop('SIGKILL')));
}

/** One running nats-server: its output, and promises for the lines and the exit tests wait on. */
class NatsNode {
  output = '';
  readonly exited: Promise<void>;
  private readonly lineWaiters: { pattern: RegExp; from: number; resolve: () => void }[] = [];

  constructor(readonly spec: NodeSpec, private readonly child: ChildProcess) {
    running.add(this);
    this.exited = new Promise((resolve) =>
      child.once('exit', () => {
        running.delete(this);
        resolve();
      }),
    );
    const onData = (chunk: Buffer): void => {
      this.output += chunk.toString('utf8');
      for (const waiter of this.lineWaiters.splice(0)) {
        if (waiter.pattern.test(this.output.slice(waiter.from))) waiter.resolve();
        else this.lineWaiters.push(waiter);
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Resolves once `pattern` appears in the output written from `from` on; rejects if the server exits first. */
  waitForLine(pattern: RegExp, from = 0): Promise<void> {
    const seen = new Promise<void>((resolve) => {
      if (pattern.test(this.output.slice(from))) resolve();
      else this.lineWaiters.push({ pattern, from, resolve });
    });
    const died = this.exited.then(() => {
      if (!pattern.test(this.output.slice(from))) throw new Error(`nats-server ${this.spec.name} exited before ${pattern}:\n${this.output.slice(-2000)}`);
    });
    return Promise.race([seen, died]);
  }

  /** For the process's exit handler, which cannot wait. */
  killNow(): void {
    if (this.running) this.child.kill('SIGKILL');
  }

  async stop(signal: NodeJS.Signals): Promise<void> {
    if (!this.running) return;
    this.child.kill(signal);
    await this.exited;
  }

}

/** `promise`, or a rejection with `message()` once `ms` have passed. */
async function withTimeout<T>(promise: Promise<T>, ms: number, message: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(message())), ms)));
  try {
    return await Promise.race([promise, expired]);
  } finally {
    clearTimeout(timer);
  }
}

const READY = /Server is ready/;
const META_LEADER = /JetStream cluster new metadata leader|Self is new JetStream cluster metadata leader/;

export class NatsCluster {
  private constructor(
    private readonly baseDir: string,
    private readonly specs: readonly NodeSpec[],
    readonly nodes: (NatsNode | null)[],
  ) {}

  /** Starts the nodes and resolves once every one is ready and knows a JetStream metadata leader. */
  static async start(): Promise<NatsCluster> {
    const baseDir = await makeTempDir('idnc-nats-');
    const specs: NodeSpec[] = [];
    for (let i = 1; i <= NODES; i++) {
      specs.push({ name: `n${i}`, clientPort: await freePort(), routePort: await freePort(), storeDir: path.join(baseDir, `n${i}`) });
    }
    const cluster = new NatsCluster(baseDir, specs, specs.map(() => null));
    try {
      await Promise.all(specs.map((_, index) => cluster.startNode(index)));
    } catch (error) {
      await cluster.stop();
      throw error;
    }
    return cluster;
  }

  /** The client URLs, comma-separated, as `--replicate` takes them. */
  get servers(): string {
    return this.specs.map((spec) => `nats://127.0.0.1:${spec.clientPort}`).join(',');
  }

  /** Starts node `index` (again, on the same ports and store) and waits until it is ready. */
  async startNode(index: number): Promise<void> {
    const spec = this.specs[index]!;
    if (this.nodes[index]?.running === true) return;
    const routes = this.specs.map((other) => `nats://127.0.0.1:${other.routePort}`).join(',');
    const args = [
      '-js', '-sd', spec.storeDir, '-a', '127.0.0.1', '-p', String(spec.clientPort),
      '--cluster', `nats://127.0.0.1:${spec.routePort}`, '--routes', routes,
      '--server_name', spec.name, '--cluster_name', CLUSTER_NAME,
    ];
    const child = spawn(SERVER, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const node = new NatsNode(spec, child);
    this.nodes[index] = node;
    const ready = Promise.all([node.waitForLine(READY), node.waitForLine(META_LEADER)]).then(() => undefined);
    await withTimeout(ready, READY_TIMEOUT_MS, () => `nats-server ${spec.name} not ready within ${READY_TIMEOUT_MS} ms:\n${node.output.slice(-2000)}`);
  }

  /** Kills node `index` (SIGKILL by default: a crash) and waits for its exit. */
  async killNode(index: number, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    await this.nodes[index]?.stop(signal);
  }

  /** Kills every node and waits for every exit, then removes the store directories. */
  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((node) => node?.stop('SIGKILL')));
    await removeDir(this.baseDir);
  }

  /** Stops every node (for "NATS fully down") without removing the stores, so startAll brings it back. */
  async killAll(): Promise<void> {
    await Promise.all(this.nodes.map((node) => node?.stop('SIGKILL')));
  }

  async startAll(): Promise<void> {
    await Promise.all(this.specs.map((_, index) => this.startNode(index)));
  }
}
