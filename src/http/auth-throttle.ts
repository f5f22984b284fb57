// Slows down repeated failed authentication from one client address. Each address has a bucket of
// AUTH_FAILURES_BURST failures refilled at AUTH_FAILURES_PER_SECOND; an address out of failures is
// refused (429 RATE_LIMITED + Retry-After) for AUTH_BLOCK_MS_MIN, doubling with each failure while
// refused or soon after, up to AUTH_BLOCK_MS_MAX. Only failures count and only the failing address
// is refused: a request with a valid key always goes through, so neither an attacker nor a
// misconfigured client next door can lock out a legitimate key. Memory is bounded by
// AUTH_TRACKED_ADDRESSES_MAX (the quietest addresses are forgotten first). With `idnc serve
// --workers N` the primary process holds the one AuthThrottle and a worker asks it about each
// failure (src/cli/cluster-limits.ts): failures are rare next to requests, and must count exactly.

import {
  AUTH_BLOCK_MS_MAX,
  AUTH_BLOCK_MS_MIN,
  AUTH_FAILURES_BURST,
  AUTH_FAILURES_PER_SECOND,
  AUTH_TRACKED_ADDRESSES_MAX,
} from '../constants.js';
import { monotonicClock, type Clock } from './rate-limit.js';

export interface AuthThrottleOptions {
  readonly burst?: number;
  readonly perSecond?: number;
  readonly blockMsMin?: number;
  readonly blockMsMax?: number;
  readonly addressesMax?: number;
  readonly now?: Clock;
}

/** What the request guard records failed authentications with. */
export interface FailureThrottle {
  /** As AuthThrottle.fail; a worker's answer comes later (never rejects). */
  fail(address: string): number | Promise<number>;
}

interface AddressState {
  failures: number;
  atMs: number;
  blockedUntilMs: number;
  blockMs: number;
}

export class AuthThrottle implements FailureThrottle {
  private readonly addresses = new Map<string, AddressState>();
  private readonly burst: number;
  private readonly perSecond: number;
  private readonly blockMsMin: number;
  private readonly blockMsMax: number;
  private readonly addressesMax: number;
  private readonly now: Clock;

  constructor(options: AuthThrottleOptions = {}) {
    this.burst = options.burst ?? AUTH_FAILURES_BURST;
    this.perSecond = options.perSecond ?? AUTH_FAILURES_PER_SECOND;
    this.blockMsMin = options.blockMsMin ?? AUTH_BLOCK_MS_MIN;
    this.blockMsMax = options.blockMsMax ?? AUTH_BLOCK_MS_MAX;
    this.addressesMax = options.addressesMax ?? AUTH_TRACKED_ADDRESSES_MAX;
    this.now = options.now ?? monotonicClock;
  }

  /**
   * Records one failed authentication from `address`. Returns 0 when the failure may be answered
   * as such (401), else the milliseconds the address is refused from now on (answer 429).
   */
  fail(address: string): number {
    const now = this.now();
    let state = this.addresses.get(address);
    if (state === undefined) {
      if (this.addresses.size >= this.addressesMax) this.forgetOldest();
      state = { failures: 0, atMs: now, blockedUntilMs: 0, blockMs: 0 };
    } else {
      this.addresses.delete(address); // re-inserted below: Map order is least recently failed first
      state.failures = Math.max(0, state.failures - ((now - state.atMs) * this.perSecond) / 1000);
      state.atMs = now;
    }
    this.addresses.set(address, state);
    const refused = now < state.blockedUntilMs;
    if (!refused && state.failures + 1 <= this.burst) {
      state.failures += 1;
      return 0;
    }
    // Out of failures, or failing again while refused: refuse longer each time.
    const recentlyBlocked = state.blockMs > 0 && now < state.blockedUntilMs + state.blockMs;
    state.blockMs = recentlyBlocked ? Math.min(this.blockMsMax, state.blockMs * 2) : this.blockMsMin;
    state.blockedUntilMs = now + state.blockMs;
    return state.blockMs;
  }

  get trackedAddresses(): number {
    return this.addresses.size;
  }

  private forgetOldest(): void {
    const oldest = this.addresses.keys().next();
    if (oldest.done !== true) this.addresses.delete(oldest.value);
  }
}
