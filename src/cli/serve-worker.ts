// One worker process of `idnc serve --workers N`. It runs the same server as a single process
// (runServer in serve-server.ts) with a different engine:
//   writer    the durable engine; every change it commits (its own requests and those forwarded by
//             the others) waits, before it is answered, until the primary says every follower has
//             applied it, so an answered add is visible in every worker at once.
//   follower  a read-only follower of the data directory (reads are local); add/remove and drops of
//             lists are validated here (the same errors as anywhere) and forwarded through the primary to the
//             writer; the answer comes once this worker has applied the change's seq too.
// Workers ignore SIGINT/SIGTERM (a terminal's Ctrl-C reaches the whole process group): the primary
// stops them in order (followers first, then the writer). A worker whose primary is gone stops.
// Rate limits and the failed-authentication throttle are the primary's, shared by every worker
// (cluster-limits.ts). With replication a follower worker's /healthz is the writer worker's body.

import { AssertionError } from '../assert.js';
import type { ServeConfig } from './config.js';
import { CLUSTER_APPLY_WAIT_MS, CLUSTER_HEALTH_WAIT_MS } from '../constants.js';
import type { EngineLogger } from '../logger.js';
import type { ForwardedChange } from '../engine/follower.js';
import type { ChangeMeta } from '../history/change-meta.js';
import type { Dnc } from '../engine/views.js';
import { openClusterWriter, openForwardingFollower, type DncFollower, type DurableDnc } from '../open.js';
import { IdncError } from '../errors.js';
import { workerLimits } from './cluster-limits.js';
import {
  isIdncMessage,
  rebuildError,
  serializeError,
  WORKER_COUNT_ENV,
  WORKER_ROLE_ENV,
  WORKER_SLOT_ENV,
  type ChangeResult,
  type PrimaryMessage,
  type WorkerMessage,
  type WorkerRole,
} from './cluster-messages.js';
import { runServer, writerOptions, type ServeRole } from './serve-server.js';

/** Requests to the primary, matched to their answers by id. */
class PrimaryChannel {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve(message: PrimaryMessage): void; reject(error: Error): void }>();
  readonly stopRequested: Promise<string>;

  /** `onRequest`: the writer worker's part, a change forwarded by a follower worker or its /healthz question. */
  constructor(private readonly onRequest: (message: Extract<PrimaryMessage, { idnc: 'change' | 'health' }>) => void) {
    let stop!: (reason: string) => void;
    this.stopRequested = new Promise((resolve) => (stop = resolve));
    process.on('message', (message: unknown) => {
      if (!isIdncMessage<PrimaryMessage>(message)) return;
      if (message.idnc === 'shutdown') stop('shutdown requested by the primary');
      else if (message.idnc === 'change' || message.idnc === 'health') this.onRequest(message);
      else {
        this.pending.get(message.id)?.resolve(message);
        this.pending.delete(message.id);
      }
    });
    process.on('disconnect', () => {
      stop('the primary process is gone');
      for (const { reject } of this.pending.values()) reject(new IdncError('STORAGE_UNAVAILABLE', 'changes cannot be stored right now: the server is shutting down'));
      this.pending.clear();
    });
  }

  send(message: WorkerMessage): void {
    if (process.connected) process.send!(message);
  }

  request(build: (id: number) => WorkerMessage): Promise<PrimaryMessage> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      if (!process.connected) {
        reject(new IdncError('STORAGE_UNAVAILABLE', 'changes cannot be stored right now: the server is shutting down'));
        return;
      }
      this.pending.set(id, { resolve, reject });
      process.send!(build(id));
    });
  }
}

function resultOf(message: PrimaryMessage): ChangeResult {
  if (message.idnc !== 'changed') throw new AssertionError(`unexpected answer ${message.idnc}`);
  if (message.error !== undefined) throw rebuildError(message.error);
  return message.result!;
}

export function workerRole(): { role: WorkerRole; slot: number; workers: number } {
  const role = process.env[WORKER_ROLE_ENV] === 'writer' ? 'writer' : 'follower';
  return { role, slot: Number(process.env[WORKER_SLOT_ENV] ?? 0), workers: Number(process.env[WORKER_COUNT_ENV] ?? 1) };
}

export async function runWorker(config: ServeConfig): Promise<number> {
  const ignore = (): void => undefined;
  process.on('SIGINT', ignore);
  process.on('SIGTERM', ignore);
  const { role, slot, workers } = workerRole();
  let writer: DurableDnc | null = null;
  /** The writer worker's own /healthz body, once it serves. */
  let ownHealth: (() => string) | null = null;
  const channel = new PrimaryChannel((message) => {
    if (message.idnc === 'change') void commitForwarded(writer, channel, message);
    else channel.send({ idnc: 'health-body', origin: message.origin, id: message.id, body: ownHealth?.() ?? null });
  });
  const common = {
    logBindings: { worker: slot, role },
    answerHeaders: { 'idnc-worker': String(slot) },
    listening: (port: number, dnc: Dnc, health: () => string) => {
      ownHealth = health;
      channel.send({ idnc: 'ready', port, seq: dnc.lastSeq });
    },
    stopRequested: () => channel.stopRequested,
    limits: workerLimits((build) => channel.request(build), workers),
  };
  const serveRole: ServeRole =
    role === 'writer'
      ? {
          ...common,
          openEngine: async (serveConfig, logger, fsyncObserver, onWriterStopped) => {
            writer = await openWriter(serveConfig, logger, channel, fsyncObserver, onWriterStopped);
            return writer;
          },
        }
      : {
          ...common,
          openEngine: (serveConfig, logger) => openFollower(serveConfig, logger, channel),
          // Without replication the writer worker's body is this one's ({"status":"ok"}): no need to ask.
          ...(config.replicate === undefined ? {} : { health: (own: () => string) => writerHealth(channel, own) }),
        };
  return runServer(config, serveRole);
}

/**
 * A follower worker's GET /healthz body: the writer worker's, whose engine replicates and whose key
 * replication runs (docs/replication.md, Health); its own when the writer worker does not serve or
 * does not answer within CLUSTER_HEALTH_WAIT_MS.
 */
async function writerHealth(channel: PrimaryChannel, own: () => string): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  const waited = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), CLUSTER_HEALTH_WAIT_MS)));
  try {
    const answer = await Promise.race([channel.request((id) => ({ idnc: 'health', id })), waited]);
    return answer?.idnc === 'health-body' && answer.body !== null ? answer.body : own();
  } catch {
    return own();
  } finally {
    clearTimeout(timer);
  }
}

async function openWriter(
  config: ServeConfig,
  logger: EngineLogger,
  channel: PrimaryChannel,
  fsyncObserver?: (seconds: number) => void,
  onWriterStopped?: (reason: string) => void,
): Promise<DurableDnc> {
  return openClusterWriter(writerOptions(config, logger, fsyncObserver, onWriterStopped), async (seq) => {
    const answer = await channel.request((id) => ({ idnc: 'barrier', id, seq }));
    if (answer.idnc === 'barrier-done' && answer.error !== undefined) throw rebuildError(answer.error);
  });
}

async function openFollower(config: ServeConfig, logger: EngineLogger, channel: PrimaryChannel): Promise<DncFollower> {
  const forwardChange = async (change: ForwardedChange): Promise<ChangeResult> =>
    resultOf(await channel.request((id) => ({ idnc: 'change', id, change })));
  const dnc = await openForwardingFollower({ dataDir: config.dataDir, logger, ...config.followerPolling }, forwardChange);
  dnc.on('applied', (seq) => channel.send({ idnc: 'applied', seq }));
  dnc.on('stale', (lagMs) => logger.warn(`this worker's follower is ${lagMs} ms behind the log`));
  dnc.on('fresh', () => logger.info("this worker's follower has caught up with the log"));
  channel.send({ idnc: 'following', seq: dnc.lastSeq });
  const synced = await channel.request((id) => ({ idnc: 'sync', id }));
  if (synced.idnc === 'synced') await dnc.waitFor(synced.seq, CLUSTER_APPLY_WAIT_MS);
  return dnc;
}

/** The writer commits a change a follower forwarded and answers it through the primary. */
async function commitForwarded(
  writer: DurableDnc | null,
  channel: PrimaryChannel,
  message: Extract<PrimaryMessage, { idnc: 'change' }>,
): Promise<void> {
  const { origin, id, change } = message;
  try {
    if (writer === null) throw new IdncError('STORAGE_UNAVAILABLE', 'changes cannot be stored right now: the writer is starting');
    const options = { org: change.org, projId: change.projId, ...(change.keyId === null ? {} : { keyId: change.keyId }), ...change.meta };
    const result = await commitChange(writer, change, options);
    channel.send({ idnc: 'changed', origin, id, result });
  } catch (error) {
    channel.send({ idnc: 'changed', origin, id, error: serializeError(error, writer?.stats().replication?.leader ?? null) });
  }
}

/** A forwarded change on the writer: the drop of a list, or an add or remove of its numbers. */
async function commitChange(writer: DurableDnc, change: ForwardedChange, options: { org: string; projId: string; keyId?: string } & ChangeMeta): Promise<ChangeResult> {
  if (change.op === 'drop') {
    const dropped = await writer.dropList(options);
    return { changed: dropped.numbers, seq: dropped.seq };
  }
  const result = change.op === 'add' ? await writer.addNumbers(change.numbers, options) : await writer.removeNumbers(change.numbers, options);
  return { changed: result.changed, seq: result.seq };
}
