// Runs the BUILT CLI (`node dist/cli/main.js serve`) in a child process for durability tests and
// the soak: start on a data directory, read the first admin key it prints, wait until it listens,
// kill it with SIGKILL or stop it with SIGTERM. Every child started here is tracked and stopped.
// Waits are promises resolved by the child's events (a line printed, its output closed), not polls:
// the soak runs these helpers outside vitest, so they cannot lean on vi.waitFor.

import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
export const PDNC = '/app/main/rpc/pdnc';
const started = new Set<ServerProcess>();

/** Bound on waiting for a line the server prints: only a server that hangs while starting reaches it. */
const PRINT_WAIT_MS = 15_000;

/**
 * Ports handed to children (which bind them after this process has let them go) under vitest come
 * from a block of its own per test worker, below the kernel's ephemeral range: two test files run at
 * once, and a port the kernel handed one of them for port 0 could be handed to the other as well
 * before the first child bound it. Each is still checked free here. Outside vitest (the soak, the
 * bench) the kernel picks, as there is no other test process to race.
 */
const WORKER_PORT_BASE = 20_000;
const WORKER_PORT_BLOCK = 2_000;
const WORKER_PORT_BLOCKS = 6;
let nextWorkerPort = 0;

function listenOn(port: number): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', (error: NodeJS.ErrnoException) => (error.code === 'EADDRINUSE' || error.code === 'EACCES' ? resolve(null) : reject(error)));
    server.listen(port, '127.0.0.1', () => {
      const bound = (server.address() as net.AddressInfo).port;
      server.close(() => resolve(bound));
    });
  });
}

export async function freePort(): Promise<number> {
  const pool = Number(process.env['VITEST_POOL_ID']);
  if (!Number.isSafeInteger(pool) || pool < 1) return (await listenOn(0))!;
  const base = WORKER_PORT_BASE + ((pool - 1) % WORKER_PORT_BLOCKS) * WORKER_PORT_BLOCK;
  for (let tries = 0; tries < WORKER_PORT_BLOCK; tries++) {
    const port = base + (nextWorkerPort++ % WORKER_PORT_BLOCK);
    if ((await listenOn(port)) !== null) return port;
  }
  throw new Error(`no free port in ${base}-${base + WORKER_PORT_BLOCK - 1}`);
}

export interface ServerProcess {
  readonly child: ChildProcess;
  readonly port: number;
  stdout: string;
  stderr: string;
  /** The child's exit code (under asInContainer, the exit of the parent that never reaps the server). */
  readonly exited: Promise<number | null>;
  /**
   * Every process holding the child's output has exited: under asInContainer the server itself
   * too (it inherits the pipes), which the parent's exit does not tell.
   */
  readonly closed: Promise<void>;
}

/**
 * `asInContainer`: the server runs in a process group of its own (so kill9Group reaches its
 * workers) under a parent that never reaps it, as under a container's pid 1: once killed, its pid
 * stays a zombie while the next server starts. `child` is then that parent.
 */
export function startServer(dataDir: string, port: number, extraArgs: string[] = [], asInContainer = false): ServerProcess {
  const args = [CLI, 'serve', '--port', String(port), '--data-dir', dataDir, '--fsync', 'always', ...extraArgs];
  const child = asInContainer
    ? spawn('sh', ['-c', '"$0" "$@" & exec sleep 100000', process.execPath, ...args], { stdio: ['ignore', 'pipe', 'pipe'], detached: true })
    : spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const server: ServerProcess = {
    child,
    port,
    stdout: '',
    stderr: '',
    exited: new Promise((resolve) => child.once('exit', resolve)),
    closed: new Promise((resolve) => child.once('close', () => resolve())),
  };
  started.add(server);
  void server.closed.then(() => started.delete(server));
  child.stdout!.on('data', (chunk: Buffer) => (server.stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (server.stderr += chunk.toString()));
  return server;
}

/**
 * Resolves with the first match of `pattern` in what the server printed on `stream`, checked on
 * every chunk as it arrives; rejects with the server's stderr if its output closes without a match
 * or nothing matches within `timeoutMs`.
 */
export function printed(server: ServerProcess, stream: 'stdout' | 'stderr', pattern: RegExp, timeoutMs = PRINT_WAIT_MS): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    const output = server.child[stream]!;
    let timer: NodeJS.Timeout | undefined;
    const settle = (outcome: () => void): void => {
      output.off('data', check);
      clearTimeout(timer);
      outcome();
    };
    // Registered after startServer's listener, so server[stream] already holds the chunk.
    const check = (): boolean => {
      const match = pattern.exec(server[stream]);
      if (match !== null) settle(() => resolve(match));
      return match !== null;
    };
    if (check()) return;
    output.on('data', check);
    timer = setTimeout(() => settle(() => reject(new Error(`the server printed nothing matching ${pattern} within ${timeoutMs} ms:\n${server.stderr}`))), timeoutMs);
    void server.closed.then(() => {
      if (!check()) settle(() => reject(new Error(`the server's output closed before it printed ${pattern}:\n${server.stderr}`)));
    });
  });
}

/** The admin key the server prints on its first start (after its listening line, on the other stream). */
export async function firstKeyOf(server: ServerProcess, timeoutMs = PRINT_WAIT_MS): Promise<string> {
  return (await printed(server, 'stdout', /loginId: ([^']+)'/, timeoutMs))[1]!;
}

/** Waits until the server logs that it listens (it answers HTTP from then on), or throws with its output. */
export async function waitUntilServing(server: ServerProcess, timeoutMs = PRINT_WAIT_MS): Promise<void> {
  await printed(server, 'stderr', /Server listening at /, timeoutMs);
}

export async function kill9(server: ServerProcess): Promise<void> {
  server.child.kill('SIGKILL');
  await server.exited;
}

/**
 * SIGKILL to the server's whole process group (started `detached`), as a supervisor does, without
 * waiting for anything to die: the caller restarts at once, racing the kernel's cleanup.
 */
export function kill9Group(server: ServerProcess): void {
  process.kill(-server.child.pid!, 'SIGKILL');
}

export async function stopGracefully(server: ServerProcess): Promise<number | null> {
  server.child.kill('SIGTERM');
  return server.exited;
}

/** Stops every child still running (afterAll / error paths) and waits until each has closed its output. */
export async function killAll(): Promise<void> {
  const stopping = [...started].map(({ child, closed }) => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      child.kill('SIGKILL');
    }
    return closed;
  });
  await Promise.all(stopping);
}

export interface PdncAnswer {
  readonly status: number;
  readonly body: string;
  readonly seq: number | null;
}

export async function pdnc(port: number, key: string, params: Record<string, string>): Promise<PdncAnswer> {
  const response = await fetch(`http://127.0.0.1:${port}${PDNC}`, {
    method: 'POST',
    headers: { loginId: key, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(params).toString(),
  });
  const seq = response.headers.get('idnc-seq');
  return { status: response.status, body: await response.text(), seq: seq === null ? null : Number(seq) };
}
