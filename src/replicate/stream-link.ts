// One process's link to NATS JetStream: the connection (reconnecting forever, to any of the
// servers given), whether it is up right now (from the client's status events), the stream of the
// log (created when missing, with file storage and the replicas asked for) and publishing one run
// of records with the expected last sequence. Writers and followers share it; the decisions (what
// to publish, what to refuse) are theirs.
//
// A run is published as plain NATS messages with a reply subject under this link's own inbox,
// whose acknowledgements one subscription collects, with one timer per run: the client's
// request() builds two or three Error objects (stack traces) and a timer per message, which was a
// fifth of the writer's CPU under ack quorum.
//
// Fencing a pipeline: every message expects the last sequence before it, but that alone lets a gap
// through: when another writer's record takes seq k, our k is refused, yet our k+1, already sent,
// finds its expected last sequence (k) true and is stored. So a message whose predecessor was sent
// by this link and is not yet known to be stored also expects the stream's last message id to be
// that predecessor's (JetStream checks both when it applies the message, in order): nothing is
// stored after a record of ours the stream refused. A message whose predecessor is known stored
// (the first after a quiet spell, a retry) expects only the sequence: the stream remembers the last
// message id in memory only and, after a restart of its leader, rebuilds it from the messages of its
// duplicates window alone, so a chain to an older predecessor would be refused for nothing. A run
// not taken whole leaves nothing to chain to (runs already sent after it chained at sending): the
// writer settles with the stream before its next run, and the record at that seq may then be
// another writer's.

import { connect, createInbox, headers, type Msg, type NatsConnection, type Subscription } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, JetStreamApiError, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { REPLICATION_PUBLISH_ATTEMPT_MS } from '../constants.js';
import { IdncError } from '../errors.js';
import { frameSeq, logSubject, recordMessageId } from './stream-records.js';

const UTF8 = new TextDecoder();

/** JetStream's error code for a publish whose expected last sequence is not the stream's. */
const WRONG_LAST_SEQUENCE = 10071;
/** JetStream's error code for a publish whose expected last message id is not the stream's. */
const WRONG_LAST_MSG_ID = 10070;

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

/** What the stream answered to one publish: the seq it stored it at, or its error. */
type PublishAnswer = { readonly seq: number } | { readonly error: string; readonly refusal: 'sequence' | 'msg-id' | null };

/** A message this link sent: a later one may chain to it until it is known stored at its seq. */
interface SentMessage {
  readonly seq: number;
  readonly msgId: string;
  stored: boolean;
}

export class StreamLink {
  readonly subject: string;
  /** Acknowledgements of publishes come to `<ackPrefix>.<n>`; `acks` waits for them by n. */
  private readonly ackPrefix = createInbox();
  private readonly acks = new Map<number, (answer: PublishAnswer) => void>();
  private nextAck = 0;
  /** The last message of the last run published: the next run chains to it while it is not known stored. */
  private lastSent: SentMessage | null = null;
  private readonly ackSubscription: Subscription;
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
    this.ackSubscription = nc.subscribe(`${this.ackPrefix}.*`, {
      callback: (error, message) => {
        if (error === null) this.acknowledged(message);
      },
    });
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
   * sequence and its message id, and chained to its predecessor's message id while that one is
   * not known stored (above); `taken` says how many the stream acknowledged, in order. `fenced`:
   * the first one not taken was refused because the stream holds another record before it.
   * Answers missing after REPLICATION_PUBLISH_ATTEMPT_MS count as not taken (not fenced). The
   * first frame's predecessor must be in the stream already or be the last frame of the run
   * before (the run is then refused whole if that one was).
   */
  async publishRun(frames: readonly Buffer[]): Promise<RunOutcome> {
    if (frames.length === 0) return { kind: 'published' };
    const before = this.lastSent !== null && this.lastSent.seq === frameSeq(frames[0]!) - 1 && !this.lastSent.stored ? this.lastSent : null;
    const lastFrame = frames[frames.length - 1]!;
    const last: SentMessage = { seq: frameSeq(lastFrame), msgId: recordMessageId(lastFrame), stored: false };
    const answers: { id: number; answer: Promise<PublishAnswer> }[] = [];
    let predecessor = before?.msgId ?? null;
    for (const frame of frames) {
      const msgId = recordMessageId(frame);
      answers.push(this.publishOne(frame, msgId, predecessor, answers.length === frames.length - 1 ? last : null));
      predecessor = msgId;
    }
    this.lastSent = last;
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<'expired'>((resolve) => (timer = setTimeout(() => resolve('expired'), REPLICATION_PUBLISH_ATTEMPT_MS)));
    let takenWhole = false;
    try {
      for (let index = 0; index < frames.length; index++) {
        const answer = await Promise.race([answers[index]!.answer, expired]);
        const seq = frameSeq(frames[index]!);
        if (answer === 'expired') return { kind: 'stopped', taken: index, fenced: false, reason: `no acknowledgement of seq ${seq} within ${REPLICATION_PUBLISH_ATTEMPT_MS} ms` };
        // Past index 0 the one before was taken: the loop got here.
        if ('error' in answer) return { kind: 'stopped', taken: index, fenced: this.fenced(answer, index > 0 || before?.stored === true), reason: answer.error };
        if (answer.seq !== seq) return { kind: 'stopped', taken: index, fenced: true, reason: `the stream stored seq ${seq} as ${answer.seq}` };
      }
      takenWhole = true;
      return { kind: 'published' };
    } finally {
      clearTimeout(timer);
      for (const { id } of answers) this.acks.delete(id);
      // A run sent after this one already carries its chain; a run started later follows a writer
      // that settled with the stream, whose record at this seq may be another writer's (ours
      // refused): chained to ours, it would be refused for nothing.
      if (!takenWhole && this.lastSent === last) this.lastSent = null;
    }
  }

  /**
   * Whether a refusal means another writer appended. A wrong last message id whose predecessor
   * is known stored at its seq does not: the stream checked the last sequence first and found it
   * ours, so its remembered message id was stale (a new stream leader whose copy came by catch-up
   * rather than by applying, or a restart past the duplicates window); sent again unchained, it is
   * taken.
   */
  private fenced(answer: { readonly refusal: 'sequence' | 'msg-id' | null }, predecessorStored: boolean): boolean {
    if (answer.refusal === 'msg-id') return !predecessorStored;
    return answer.refusal === 'sequence';
  }

  /**
   * Sends one record, chained to `predecessor` (a message id) unless null; `tracked` (a run's last
   * message, which the next run may chain to) is marked stored as its acknowledgement arrives.
   */
  private publishOne(frame: Buffer, msgId: string, predecessor: string | null, tracked: SentMessage | null): { id: number; answer: Promise<PublishAnswer> } {
    const id = this.nextAck++;
    const seq = frameSeq(frame);
    const answer = new Promise<PublishAnswer>((resolve) => {
      if (tracked === null) this.acks.set(id, resolve);
      else {
        this.acks.set(id, (reply) => {
          tracked.stored = 'seq' in reply && reply.seq === seq;
          resolve(reply);
        });
      }
    });
    const header = headers();
    header.set('Nats-Msg-Id', msgId);
    header.set('Nats-Expected-Last-Sequence', String(seq - 1));
    if (predecessor !== null) header.set('Nats-Expected-Last-Msg-Id', predecessor);
    try {
      this.nc.publish(this.subject, frame, { reply: `${this.ackPrefix}.${id}`, headers: header });
    } catch (error) {
      this.acks.get(id)?.({ error: (error as Error).message, refusal: null });
    }
    return { id, answer };
  }

  /** An acknowledgement (or refusal) from the stream, or the server's "no responders" status. */
  private acknowledged(message: Msg): void {
    const id = Number(message.subject.slice(this.ackPrefix.length + 1));
    const resolve = this.acks.get(id);
    if (resolve === undefined) return;
    this.acks.delete(id);
    if (message.data.length === 0) {
      resolve({ error: `no stream answered (status ${message.headers?.code ?? 'none'})`, refusal: null });
      return;
    }
    try {
      const body = JSON.parse(UTF8.decode(message.data)) as { seq?: number; error?: { err_code?: number; description?: string } };
      if (body.error !== undefined) resolve({ error: body.error.description ?? 'refused', refusal: refusalOf(body.error.err_code) });
      else resolve({ seq: Number(body.seq) });
    } catch (error) {
      resolve({ error: `unreadable acknowledgement (${(error as Error).message})`, refusal: null });
    }
  }

  async close(): Promise<void> {
    this.ackSubscription.unsubscribe();
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

/** Which expectation of a publish the stream refused, if any. */
function refusalOf(code: number | undefined): 'sequence' | 'msg-id' | null {
  if (code === WRONG_LAST_SEQUENCE) return 'sequence';
  return code === WRONG_LAST_MSG_ID ? 'msg-id' : null;
}
