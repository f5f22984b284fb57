// The per-key rate limits and the failed-authentication throttle of `idnc serve --workers N`, for
// the server as a whole: processes share no memory, so the primary holds the one set of buckets
// (a KeyRateLimiter) and the one AuthThrottle, and the workers ask it over the cluster's IPC channel.
//
// Rate limits: a worker takes a key's tokens from the primary's bucket in small batches and keeps
// the rest in a stock of its own, so most requests take a token locally, synchronously (the status
// fast path included), and the worker asks for more before its stock runs out. Only a request that
// finds the stock empty waits for the primary's answer. What a worker may hold ahead of use is
// CLUSTER_RATE_LEASE_FRACTION of the key's limit shared by the workers, and every token passed was
// taken from the primary's bucket first, so the server as a whole passes at most the bucket plus
// that fraction. A low limit (below 40/s with 2 workers) leaves no stock: each request asks.
// Failed authentications are rare next to requests and must count exactly: each one asks.
// A worker whose primary is gone (it is stopping) limits on its own until it exits.

import { AssertionError } from '../assert.js';
import { CLUSTER_RATE_LEASE_FRACTION } from '../constants.js';
import { AuthThrottle, type FailureThrottle } from '../http/auth-throttle.js';
import { KeyRateLimiter, monotonicClock, type Clock, type KeyLimiter, type TakenTokens } from '../http/rate-limit.js';
import type { PrimaryMessage, WorkerMessage } from './cluster-messages.js';

/** Takes up to `wanted` tokens from the bucket of a key, wherever it lives; never rejects. */
export type TokenSource = (keyId: string, perSecond: number, wanted: number) => Promise<TakenTokens>;

interface Stock {
  perSecond: number;
  /** Tokens this worker may hold ahead of use. */
  stockMax: number;
  tokens: number;
  /** The bucket was empty when last asked: until then (clock ms) this worker refuses without asking. */
  refusedUntilMs: number;
  asking: boolean;
  /** Requests that found the stock empty, answered in order when tokens arrive. */
  readonly waiting: Array<(waitMs: number) => void>;
}

/** A worker's KeyLimiter: tokens from a bucket elsewhere (the primary's), taken in batches. */
export class LeasedKeyLimiter implements KeyLimiter {
  private readonly stocks = new Map<string, Stock>();

  constructor(
    private readonly source: TokenSource,
    private readonly workers: number,
    private readonly now: Clock = monotonicClock,
  ) {}

  take(keyId: string, perSecond: number): number {
    if (perSecond <= 0) return 0;
    const stock = this.stockOf(keyId, perSecond);
    if (stock.tokens >= 1) {
      stock.tokens -= 1;
      // Ask for more while half the stock is left, so the requests after this one need not wait.
      if (stock.tokens * 2 < stock.stockMax && !stock.asking && this.now() >= stock.refusedUntilMs) this.ask(keyId, stock);
      return 0;
    }
    return Math.max(1, stock.refusedUntilMs - this.now());
  }

  readonly acquire = (keyId: string, perSecond: number): Promise<number> => {
    if (this.take(keyId, perSecond) === 0) return Promise.resolve(0);
    const stock = this.stocks.get(keyId)!;
    const refusedMs = stock.refusedUntilMs - this.now();
    if (refusedMs > 0) return Promise.resolve(refusedMs);
    return new Promise((resolve) => {
      stock.waiting.push(resolve);
      if (!stock.asking) this.ask(keyId, stock);
    });
  };

  /** Keys with a stock (bounded by the keys ever authenticated). */
  get size(): number {
    return this.stocks.size;
  }

  private stockOf(keyId: string, perSecond: number): Stock {
    let stock = this.stocks.get(keyId);
    if (stock === undefined) {
      stock = { perSecond, stockMax: this.stockMaxOf(perSecond), tokens: 0, refusedUntilMs: 0, asking: false, waiting: [] };
      this.stocks.set(keyId, stock);
    } else if (stock.perSecond !== perSecond) {
      // A changed limit (keys.json edited): no more held ahead than the new one allows, no refusal
      // computed at the old rate.
      stock.perSecond = perSecond;
      stock.stockMax = this.stockMaxOf(perSecond);
      stock.tokens = Math.min(stock.tokens, stock.stockMax);
      stock.refusedUntilMs = 0;
    }
    return stock;
  }

  private stockMaxOf(perSecond: number): number {
    return Math.floor((perSecond * CLUSTER_RATE_LEASE_FRACTION) / this.workers);
  }

  private ask(keyId: string, stock: Stock): void {
    stock.asking = true;
    const wanted = stock.waiting.length + Math.max(0, stock.stockMax - stock.tokens);
    void this.source(keyId, stock.perSecond, wanted).then((taken) => this.received(keyId, stock, taken));
  }

  private received(keyId: string, stock: Stock, taken: TakenTokens): void {
    stock.asking = false;
    stock.tokens += taken.tokens;
    if (taken.waitMs > 0) stock.refusedUntilMs = this.now() + taken.waitMs;
    while (stock.waiting.length > 0 && stock.tokens >= 1) {
      stock.tokens -= 1;
      stock.waiting.shift()!(0);
    }
    stock.tokens = Math.min(stock.tokens, stock.stockMax);
    if (stock.waiting.length === 0) return;
    const refusedMs = stock.refusedUntilMs - this.now();
    if (refusedMs > 0) for (const resolve of stock.waiting.splice(0)) resolve(refusedMs);
    else this.ask(keyId, stock); // more requests came while this answer was on its way
  }
}

/** Sends a request to the primary and resolves with its answer (serve-worker.ts's channel). */
export type AskPrimary = (build: (id: number) => WorkerMessage) => Promise<PrimaryMessage>;

export interface WorkerLimits {
  readonly rateLimiter: KeyLimiter;
  readonly authThrottle: FailureThrottle;
}

function unexpected(answer: PrimaryMessage): never {
  throw new AssertionError(`the primary answered ${answer.idnc} to a limits request`);
}

/** A worker's limiter and throttle: the primary's, through `ask`; its own once the primary is gone. */
export function workerLimits(ask: AskPrimary, workers: number): WorkerLimits {
  const ownBuckets = new KeyRateLimiter();
  const ownThrottle = new AuthThrottle();
  const source: TokenSource = (keyId, perSecond, wanted) =>
    ask((id) => ({ idnc: 'lease', id, keyId, perSecond, wanted })).then(
      (answer) => (answer.idnc === 'leased' ? answer : unexpected(answer)),
      () => ownBuckets.takeUpTo(keyId, perSecond, wanted),
    );
  const fail = (address: string): Promise<number> =>
    ask((id) => ({ idnc: 'auth-fail', id, address })).then(
      (answer) => (answer.idnc === 'auth-failed' ? answer.waitMs : unexpected(answer)),
      () => ownThrottle.fail(address),
    );
  return { rateLimiter: new LeasedKeyLimiter(source, workers), authThrottle: { fail } };
}

/** The primary's side: the one set of buckets and failure counts, answering every worker. */
export class ClusterLimits {
  private readonly buckets = new KeyRateLimiter();
  private readonly throttle = new AuthThrottle();

  answer(message: Extract<WorkerMessage, { idnc: 'lease' | 'auth-fail' }>): PrimaryMessage {
    if (message.idnc === 'auth-fail') return { idnc: 'auth-failed', id: message.id, waitMs: this.throttle.fail(message.address) };
    const { tokens, waitMs } = this.buckets.takeUpTo(message.keyId, message.perSecond, message.wanted);
    return { idnc: 'leased', id: message.id, tokens, waitMs };
  }
}
