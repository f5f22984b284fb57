// Drives follower-child.mjs (the built library following a data directory in its own process):
// start it, read its events, ask for its state, wait until it has applied a seq, stop it.

import { spawn, type ChildProcess } from 'node:child_process';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

const CHILD = fileURLToPath(new URL('./follower-child.mjs', import.meta.url));
const started = new Set<ChildProcess>();

export interface FollowerState {
  readonly lastSeq: number;
  readonly lagMs: number;
  readonly count: number;
  readonly digest: string;
  readonly blocked: boolean[];
}

export interface Applied {
  readonly seq: number;
  readonly at: number;
}

export class FollowerProcess {
  readonly applied: Applied[] = [];
  readonly events: string[] = [];
  stderr = '';
  private nextId = 1;
  private readonly replies = new Map<number, (value: FollowerState) => void>();
  private readonly appliedWaiters = new Set<(entry: Applied) => void>();
  private readonly opened: Promise<void>;
  readonly exited: Promise<number | null>;

  constructor(readonly child: ChildProcess) {
    let onOpen!: () => void;
    this.opened = new Promise((resolve) => (onOpen = resolve));
    this.exited = new Promise((resolve) => child.once('exit', (code) => {
      started.delete(child);
      resolve(code);
    }));
    child.stderr!.on('data', (chunk: Buffer) => (this.stderr += chunk.toString()));
    readline.createInterface({ input: child.stdout! }).on('line', (line) => {
      const message = JSON.parse(line) as Record<string, unknown>;
      if (message.event === 'open') onOpen();
      else if (message.event === 'applied') this.onApplied({ seq: message.seq as number, at: message.at as number });
      else if (typeof message.event === 'string') this.events.push(message.event);
      else if (typeof message.reply === 'number') {
        this.replies.get(message.reply)?.(message as unknown as FollowerState);
        this.replies.delete(message.reply);
      }
    });
  }

  static async start(dataDir: string, staleAfterMs = 1000): Promise<FollowerProcess> {
    const child = spawn(process.execPath, [CHILD, dataDir, String(staleAfterMs)], { stdio: ['pipe', 'pipe', 'pipe'] });
    started.add(child);
    const follower = new FollowerProcess(child);
    const exited = follower.exited.then((code) => {
      throw new Error(`follower exited with ${code} while opening:\n${follower.stderr}`);
    });
    await Promise.race([follower.opened, exited]);
    return follower;
  }

  state(phones: string[] = []): Promise<FollowerState> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`follower did not answer:\n${this.stderr}`)), 10_000);
      this.replies.set(id, (state) => {
        clearTimeout(timer);
        resolve(state);
      });
      this.child.stdin!.write(`${JSON.stringify({ id, cmd: 'state', phones })}\n`);
    });
  }

  /** Resolves with the time the follower applied `seq` (its own clock: same host), told by its 'applied' line. */
  async appliedAt(seq: number, timeoutMs = 10_000): Promise<number> {
    const hit = this.applied.find((entry) => entry.seq >= seq);
    if (hit !== undefined) return hit.at;
    let waiter!: (entry: Applied) => void;
    let timer!: NodeJS.Timeout;
    const applied = new Promise<number>((resolve) => {
      waiter = (entry) => {
        if (entry.seq >= seq) resolve(entry.at);
      };
      this.appliedWaiters.add(waiter);
    });
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        void this.state().then(
          (state) => reject(new Error(`follower did not apply seq ${seq} within ${timeoutMs} ms (at seq ${state.lastSeq}):\n${this.stderr}`)),
          reject,
        );
      }, timeoutMs);
    });
    try {
      return await Promise.race([applied, late]);
    } finally {
      clearTimeout(timer);
      this.appliedWaiters.delete(waiter);
    }
  }

  private onApplied(entry: Applied): void {
    this.applied.push(entry);
    for (const waiter of this.appliedWaiters) waiter(entry);
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGKILL');
    await this.exited;
  }
}

export async function killAllFollowers(): Promise<void> {
  const children = [...started];
  const exits = children.map((child) => new Promise((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve(null) : child.once('exit', resolve))));
  for (const child of children) child.kill('SIGKILL');
  await Promise.all(exits);
}
