// Runs the BUILT CLI (`node dist/cli/main.js serve`) in a child process for durability tests and
// the soak: start on a data directory, read the first admin key it prints, wait until it answers,
// kill it with SIGKILL or stop it with SIGTERM. Every child started here is tracked and stopped.

import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
export const PDNC = '/app/main/rpc/pdnc';
const started = new Set<ChildProcess>();

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export interface ServerProcess {
  readonly child: ChildProcess;
  readonly port: number;
  stdout: string;
  stderr: string;
  readonly exited: Promise<number | null>;
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
  started.add(child);
  const server: ServerProcess = {
    child,
    port,
    stdout: '',
    stderr: '',
    exited: new Promise((resolve) => child.once('exit', (code) => {
      started.delete(child);
      resolve(code);
    })),
  };
  child.stdout!.on('data', (chunk: Buffer) => (server.stdout += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (server.stderr += chunk.toString()));
  return server;
}

/** The admin key the server printed on its first start. */
export function firstKeyOf(server: ServerProcess): string | null {
  return /loginId: ([^']+)'/.exec(server.stdout)?.[1] ?? null;
}

/** Waits until the server answers HTTP (any status), or throws with its output if it exits. */
export async function waitUntilServing(server: ServerProcess, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exitCode: number | null | undefined;
  void server.exited.then((code) => (exitCode = code));
  for (;;) {
    if (exitCode !== undefined) throw new Error(`server exited with ${exitCode} while starting:\n${server.stderr}`);
    try {
      await fetch(`http://127.0.0.1:${server.port}${PDNC}?actionType=count`);
      return;
    } catch {
      if (Date.now() > deadline) throw new Error(`server did not answer within ${timeoutMs} ms:\n${server.stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }
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

/** Stops every child still running (afterAll / error paths). */
export async function killAll(): Promise<void> {
  for (const child of started) {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      child.kill('SIGKILL');
    }
  }
  await new Promise((resolve) => setTimeout(resolve, 50));
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
