// `idnc serve --workers N`: the primary process. It makes sure the key file (and the first admin
// key, but not on a standby: its keys come from the writer) exists before forking, so the banner
// prints once; forks the writer worker (slot 0) and, once
// it serves, N-1 follower workers, all sharing the port (node:cluster, round-robin). Internal traffic
// goes over the cluster's IPC channel, never over the network:
//   - a follower forwards a validated add/remove: primary -> writer -> primary -> that follower;
//   - before the writer answers any change it asks for a barrier: the primary answers once every
//     follower has reported (`applied`) that seq, or after CLUSTER_APPLY_WAIT_MS with WAIT_TIMEOUT.
//     So when an add is answered, every worker's status already shows it.
//   - a new follower is counted in barriers as soon as it has loaded, and before it listens it
//     catches up to the newest seq the primary knows of, so it never serves an older state.
//   - the rate-limit buckets and the failed-authentication counts live here, so they hold for the
//     server as a whole (cluster-limits.ts): workers take tokens in batches and report failures.
//   - with replication, a follower worker's GET /healthz is answered with the writer worker's body
//     (primary -> writer -> primary -> that follower): the replication and keys parts are the writer
//     worker's, so every worker says the same.
// A worker that dies is restarted with a doubling delay; SIGINT/SIGTERM stop the followers, then the
// writer (final snapshot), and exit 0.

import cluster, { type Worker } from 'node:cluster';
import { mkdir } from 'node:fs/promises';
import { pino, type Logger } from 'pino';
import type { ServeConfig } from './config.js';
import {
  CLUSTER_APPLY_WAIT_MS,
  DIRECTORY_MODE_OWNER_ONLY,
  SHUTDOWN_GRACE_MS,
  WORKER_RESTART_DELAY_MS_MAX,
  WORKER_RESTART_DELAY_MS_MIN,
  WORKER_STABLE_AFTER_MS,
} from '../constants.js';
import { IdncError } from '../errors.js';
import { safeSerializers } from '../http/log-serializers.js';
import { ensureFirstKey, forgetUnshownFirstKey, type CreatedKey } from '../keys/key-admin.js';
import { ClusterLimits } from './cluster-limits.js';
import {
  isIdncMessage,
  serializeError,
  WORKER_COUNT_ENV,
  WORKER_ROLE_ENV,
  WORKER_SLOT_ENV,
  type PrimaryMessage,
  type WorkerMessage,
  type WorkerRole,
} from './cluster-messages.js';
import { makesFirstKey, printFirstKey, reportStartFailure, signalled } from './serve-server.js';

export async function serveCluster(config: ServeConfig, workers: number): Promise<number> {
  if (cluster.isWorker) {
    const { runWorker } = await import('./serve-worker.js');
    return runWorker(config);
  }
  return runPrimary(config, workers);
}

interface Slot {
  readonly index: number;
  readonly role: WorkerRole;
  worker: Worker | null;
  ready: boolean;
  startedAt: number;
  restartDelayMs: number;
  restartTimer: NodeJS.Timeout | null;
  onReady: ((port: number) => void) | null;
  onStartFailure: ((error: Error) => void) | null;
}

interface Barrier {
  readonly id: number;
  readonly seq: number;
  readonly timer: NodeJS.Timeout;
}

async function runPrimary(config: ServeConfig, workers: number): Promise<number> {
  const stop = signalled();
  const logger = pino({ level: 'info', serializers: safeSerializers }, pino.destination({ fd: 2, sync: true })).child({ component: 'primary' });
  let firstKey: CreatedKey | undefined;
  try {
    await mkdir(config.dataDir, { recursive: true, mode: DIRECTORY_MODE_OWNER_ONLY });
    if (makesFirstKey(config)) firstKey = await ensureFirstKey(config.dataDir);
  } catch (error) {
    reportStartFailure(error);
    return 1;
  }
  cluster.setupPrimary({ serialization: 'advanced' });
  const primary = new ClusterPrimary(workers, logger);
  let port: number;
  try {
    port = await primary.start();
  } catch (error) {
    process.stderr.write(`idnc serve: ${(error as Error).message}\n`);
    await primary.shutdown();
    if (firstKey !== undefined) await forgetUnshownFirstKey(config.dataDir, firstKey).catch(() => undefined);
    return 1;
  }
  if (firstKey !== undefined) printFirstKey(firstKey, config.host, port);
  logger.info(`serving on port ${port} with ${workers} workers (worker 0 writes, the others follow the log)`);
  const reason = await stop;
  logger.info(`${reason}: stopping the follower workers, then the writer`);
  return primary.shutdown();
}

class ClusterPrimary {
  private readonly slots: Slot[];
  /** Follower slot -> the seq it has applied; only followers that have loaded are here. */
  private readonly applied = new Map<number, number>();
  private barriers: Barrier[] = [];
  /** Changes forwarded to the writer and not answered yet: `${origin}:${id}`. */
  private readonly forwarded = new Map<string, { origin: number; id: number }>();
  /** Follower workers' /healthz questions to the writer not answered yet: `${origin}:${id}`. */
  private readonly healthAsked = new Map<string, { origin: number; id: number }>();
  private readonly limits = new ClusterLimits();
  private latestSeq = 0;
  private shuttingDown = false;
  /** Until every worker first served, a worker that dies fails the start instead of being restarted. */
  private started = false;

  constructor(workers: number, private readonly logger: Logger) {
    this.slots = Array.from({ length: workers }, (_, index) => ({
      index,
      role: index === 0 ? 'writer' : 'follower',
      worker: null,
      ready: false,
      startedAt: 0,
      restartDelayMs: WORKER_RESTART_DELAY_MS_MIN,
      restartTimer: null,
      onReady: null,
      onStartFailure: null,
    }));
  }

  /** Starts the writer, then the followers; resolves with the port once all serve. */
  async start(): Promise<number> {
    const port = await this.fork(this.slots[0]!);
    await Promise.all(this.slots.slice(1).map((slot) => this.fork(slot)));
    this.started = true;
    return port;
  }

  /** Stops the followers, then the writer; resolves to 0 when every worker exited cleanly. */
  async shutdown(): Promise<number> {
    this.shuttingDown = true;
    for (const slot of this.slots) if (slot.restartTimer !== null) clearTimeout(slot.restartTimer);
    const followers = await Promise.all(this.slots.slice(1).map((slot) => this.stopWorker(slot)));
    const writer = await this.stopWorker(this.slots[0]!);
    return [...followers, writer].every((code) => code === 0) ? 0 : 1;
  }

  private fork(slot: Slot): Promise<number> {
    const worker = cluster.fork({ [WORKER_ROLE_ENV]: slot.role, [WORKER_SLOT_ENV]: String(slot.index), [WORKER_COUNT_ENV]: String(this.slots.length) });
    slot.worker = worker;
    slot.ready = false;
    slot.startedAt = Date.now();
    worker.on('message', (message: unknown) => {
      if (isIdncMessage<WorkerMessage>(message)) this.onMessage(slot, message);
    });
    worker.on('exit', (code, signal) => this.onExit(slot, worker, code, signal));
    return new Promise((resolve, reject) => {
      slot.onReady = resolve;
      slot.onStartFailure = reject;
    });
  }

  private stopWorker(slot: Slot): Promise<number | null> {
    const worker = slot.worker;
    if (worker === null || worker.isDead()) return Promise.resolve(0);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.logger.error(`worker ${slot.index} did not stop within ${SHUTDOWN_GRACE_MS} ms; killing it`);
        worker.process.kill('SIGKILL');
      }, SHUTDOWN_GRACE_MS);
      worker.once('exit', (code) => {
        clearTimeout(timer);
        resolve(code);
      });
      this.send(worker, { idnc: 'shutdown' });
    });
  }

  private send(worker: Worker | null, message: PrimaryMessage): void {
    if (worker === null || !worker.isConnected()) return;
    try {
      worker.send(message);
    } catch (error) {
      this.logger.warn(`could not reach worker ${worker.id}: ${(error as Error).message}`);
    }
  }

  private onMessage(slot: Slot, message: WorkerMessage): void {
    switch (message.idnc) {
      case 'ready':
        slot.ready = true;
        if (slot.role === 'writer') this.latestSeq = Math.max(this.latestSeq, message.seq);
        slot.onReady?.(message.port);
        slot.onReady = slot.onStartFailure = null;
        return;
      case 'following':
      case 'applied':
        if (message.idnc === 'following' || this.applied.has(slot.index)) this.applied.set(slot.index, message.seq);
        this.checkBarriers();
        return;
      case 'sync':
        this.send(slot.worker, { idnc: 'synced', id: message.id, seq: this.latestSeq });
        return;
      case 'change':
        this.forwardChange(slot, message);
        return;
      case 'changed': {
        this.forwarded.delete(`${message.origin}:${message.id}`);
        const { id, result, error } = message;
        this.send(this.slots[message.origin]?.worker ?? null, { idnc: 'changed', id, ...(result === undefined ? {} : { result }), ...(error === undefined ? {} : { error }) });
        return;
      }
      case 'barrier':
        this.latestSeq = Math.max(this.latestSeq, message.seq);
        this.barriers.push({ id: message.id, seq: message.seq, timer: setTimeout(() => this.barrierTimedOut(message.id), CLUSTER_APPLY_WAIT_MS) });
        this.checkBarriers();
        return;
      case 'lease':
      case 'auth-fail':
        this.send(slot.worker, this.limits.answer(message));
        return;
      case 'health':
        this.askHealth(slot, message.id);
        return;
      case 'health-body':
        this.healthAsked.delete(`${message.origin}:${message.id}`);
        this.send(this.slots[message.origin]?.worker ?? null, { idnc: 'health-body', id: message.id, body: message.body });
        return;
    }
  }

  /** A follower worker's /healthz: the writer worker's body (null at once while it does not serve). */
  private askHealth(slot: Slot, id: number): void {
    const writer = this.slots[0]!;
    if (!writer.ready || writer.worker === null) {
      this.send(slot.worker, { idnc: 'health-body', id, body: null });
      return;
    }
    this.healthAsked.set(`${slot.index}:${id}`, { origin: slot.index, id });
    this.send(writer.worker, { idnc: 'health', origin: slot.index, id });
  }

  private forwardChange(slot: Slot, message: Extract<WorkerMessage, { idnc: 'change' }>): void {
    const writer = this.slots[0]!;
    if (!writer.ready || writer.worker === null) {
      const error = new IdncError('STORAGE_UNAVAILABLE', 'changes cannot be stored right now: the writer worker is restarting');
      this.send(slot.worker, { idnc: 'changed', id: message.id, error: serializeError(error) });
      return;
    }
    this.forwarded.set(`${slot.index}:${message.id}`, { origin: slot.index, id: message.id });
    this.send(writer.worker, { idnc: 'change', origin: slot.index, id: message.id, change: message.change });
  }

  private checkBarriers(): void {
    if (this.barriers.length === 0) return;
    const lowest = Math.min(...this.applied.values());
    const waiting: Barrier[] = [];
    for (const barrier of this.barriers) {
      if (this.applied.size === 0 || lowest >= barrier.seq) {
        clearTimeout(barrier.timer);
        this.send(this.slots[0]!.worker, { idnc: 'barrier-done', id: barrier.id });
      } else waiting.push(barrier);
    }
    this.barriers = waiting;
  }

  private barrierTimedOut(id: number): void {
    const barrier = this.barriers.find((entry) => entry.id === id);
    if (barrier === undefined) return;
    this.barriers = this.barriers.filter((entry) => entry !== barrier);
    const behind = [...this.applied].filter(([, seq]) => seq < barrier.seq).map(([index]) => index);
    const error = new IdncError(
      'WAIT_TIMEOUT',
      `the change was stored (seq ${barrier.seq}) but worker ${behind.join(', ')} had not applied it within ${CLUSTER_APPLY_WAIT_MS} ms; retrying is safe`,
    );
    this.logger.warn(`workers ${behind.join(', ')} are behind the log: seq ${barrier.seq} not applied within ${CLUSTER_APPLY_WAIT_MS} ms`);
    this.send(this.slots[0]!.worker, { idnc: 'barrier-done', id, error: serializeError(error) });
  }

  private onExit(slot: Slot, worker: Worker, code: number | null, signal: string | null): void {
    if (slot.worker !== worker) return;
    slot.worker = null;
    slot.ready = false;
    this.applied.delete(slot.index);
    if (slot.role === 'writer') this.writerGone();
    else this.checkBarriers();
    if (this.shuttingDown) return;
    const how = signal === null ? `code ${code}` : `signal ${signal}`;
    const failStart = slot.onStartFailure;
    slot.onReady = slot.onStartFailure = null;
    if (!this.started && failStart !== null) {
      failStart(new Error(`worker ${slot.index} (${slot.role}) exited with ${how} while starting (its reason is above)`));
      return;
    }
    if (Date.now() - slot.startedAt >= WORKER_STABLE_AFTER_MS) slot.restartDelayMs = WORKER_RESTART_DELAY_MS_MIN;
    this.logger.error(`worker ${slot.index} (${slot.role}) exited with ${how}; restarting it in ${slot.restartDelayMs} ms`);
    slot.restartTimer = setTimeout(() => {
      slot.restartTimer = null;
      this.fork(slot).catch((error: Error) => this.logger.error(error.message));
    }, slot.restartDelayMs);
    slot.restartDelayMs = Math.min(slot.restartDelayMs * 2, WORKER_RESTART_DELAY_MS_MAX);
  }

  /** Changes forwarded to a writer that died may or may not be stored: their senders are told so. */
  private writerGone(): void {
    for (const barrier of this.barriers) clearTimeout(barrier.timer);
    this.barriers = [];
    const error = new IdncError(
      'STORAGE_UNAVAILABLE',
      'the writer worker stopped before answering: the change may or may not be stored (add and remove are idempotent: retry)',
    );
    for (const { origin, id } of this.forwarded.values()) {
      this.send(this.slots[origin]?.worker ?? null, { idnc: 'changed', id, error: serializeError(error) });
    }
    this.forwarded.clear();
    for (const { origin, id } of this.healthAsked.values()) this.send(this.slots[origin]?.worker ?? null, { idnc: 'health-body', id, body: null });
    this.healthAsked.clear();
  }
}
