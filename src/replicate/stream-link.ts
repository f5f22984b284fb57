// One process's link to NATS JetStream: the connection (reconnecting forever, to any of the
// servers given), whether it is up right now (from the client's status events), the stream of the
// log (created when missing, with file storage and the replicas asked for) and publishing one run
// of records with the expected last sequence. Writers and followers share it; the decisions (what
// to publish, what to refuse) are theirs.

import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, JetStreamApiError, type JetStreamClient, type JetStreamManager, type PubAck } from '@nats-io/jetstream';
import { REPLICATION_PUBLISH_ATTEMPT_MS } from '../constants.js';
import { IdncError } from '../errors.js';
import { frameSeq, logSubject, recordMessageId } from './stream-records.js';

/** JetStream's error code for a publish whose expected last sequence is not the stream's. */
const WRONG_LAST_SEQUENCE = 10071;

/** `nats://h1:4222,nats://h2:4222` as the client takes it; INVALID_PARAMETER when empty. */
export function parseServers(servers: string, option: string): string[] {
  const list = servers.split(',').map((server) => server.trim()).filter((server) => server !== '');
  if (list.length === 0) throw new IdncError('INVALID_PARAMETER', `${option}: expected NATS server URLs like nats://host:4222, separated by commas`);
  return list;
}

export interface StreamLinkOptions {
  readonly servers: readonly string[];
  readonly stream: string;
  /** Name the connection shows in the NATS server's monitoring. */
  readonly name: string;
}

/** How a run of publishes ended: all taken, or where it stopped and why. */
export type RunOutcome =
  | { readonly kind: 'published' }
  | { readonly kind: 'stopped'; readonly taken: number; readonly fenced: boolean; readonly reason: string };

export class StreamLink {
  readonly subject: string;
  private connectedNow = true;
  private readonly waiters = new Set<() => void>();
  private readonly statusLoop: Promise<void>;
  readonly js: JetStreamClient;

  private constructor(
    readonly nc: NatsConnection,
    readonly jsm: JetStreamManager,
    readonly options: StreamLinkOptions,
    private readonly onChange: (connected: boolean) => void,
  ) {
    this.subject = logSubject(options.stream);
    this.js = jetstream(nc);
    this.statusLoop = this.watchStatus();
  }

  /**
   * Connects (failing at once when no server answers; reconnecting forever once connected) and
   * tells `onChange` of every disconnect and reconnect after that.
   */
  static async open(options: StreamLinkOptions, onChange: (connected: boolean) => void): Promise<StreamLink> {
    const nc = await connect({
      servers: [...options.servers],
      name: options.name,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
    });
    return new StreamLink(nc, await jetstreamManager(nc), options, onChange);
  }

  get connected(): boolean {
    return this.connectedNow && !this.nc.isClosed();
  }

  /** Resolves at the next reconnect or close (at once when connected). */
  untilConnected(): Promise<void> {
    if (this.connected || this.nc.isClosed()) return Promise.resolve();
    return new Promise((resolve) => this.waiters.add(resolve));
  }

  /** Creates the stream when it does not exist: file storage, `replicas` copies. */
  async ensureStream(replicas: number): Promise<void> {
    const { stream } = this.options;
    try {
      await this.jsm.streams.info(stream);
      return;
    } catch (error) {
      if (!(error instanceof JetStreamApiError) || error.code !== 10059) throw error;
    }
    await this.jsm.streams.add({ name: stream, subjects: [this.subject], num_replicas: replicas, storage: 'file' as never });
  }

  /** The stream's last seq, as its leader answers now. */
  async lastSeq(): Promise<number> {
    return (await this.jsm.streams.info(this.options.stream)).state.last_seq;
  }

  /**
   * Publishes `frames` (records of consecutive seqs) pipelined, each with the expected last
   * sequence and its message id; `taken` says how many the stream acknowledged, in order. `fenced`:
   * the first one not taken was refused because the stream holds another record before it.
   */
  async publishRun(frames: readonly Buffer[]): Promise<RunOutcome> {
    const sent = frames.map((frame) => {
      const seq = frameSeq(frame);
      return this.js.publish(this.subject, frame, { msgID: recordMessageId(frame), expect: { lastSequence: seq - 1 }, timeout: REPLICATION_PUBLISH_ATTEMPT_MS });
    });
    const results = await Promise.allSettled(sent);
    for (let index = 0; index < results.length; index++) {
      const result = results[index]!;
      if (result.status === 'fulfilled' && this.takenAt(result.value, frames[index]!)) continue;
      if (result.status === 'fulfilled') return { kind: 'stopped', taken: index, fenced: true, reason: `the stream stored seq ${frameSeq(frames[index]!)} as ${result.value.seq}` };
      const error = result.reason as Error;
      const fenced = error instanceof JetStreamApiError && error.code === WRONG_LAST_SEQUENCE;
      return { kind: 'stopped', taken: index, fenced, reason: error.message };
    }
    return { kind: 'published' };
  }

  private takenAt(ack: PubAck, frame: Buffer): boolean {
    return ack.seq === frameSeq(frame);
  }

  async close(): Promise<void> {
    if (!this.nc.isClosed()) await this.nc.close().catch(() => undefined);
    await this.statusLoop;
    for (const waiter of this.waiters) waiter();
    this.waiters.clear();
  }

  private async watchStatus(): Promise<void> {
    for await (const status of this.nc.status()) {
      if (status.type !== 'disconnect' && status.type !== 'reconnect' && status.type !== 'close') continue;
      this.connectedNow = status.type === 'reconnect';
      if (this.connectedNow || status.type === 'close') {
        for (const waiter of this.waiters) waiter();
        this.waiters.clear();
      }
      this.onChange(this.connectedNow);
    }
  }
}
