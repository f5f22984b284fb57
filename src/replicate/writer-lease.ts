// The writer lease: one entry in the JetStream KV bucket `<stream>_LEADER`, whose messages expire
// `leaseMs` after they are written (the bucket's max age). The writer that created the entry holds
// the lease while it renews it (compare-and-set on its revision) within `leaseMs`; a standby creates
// the entry once it has expired, which succeeds for one of them only. The holder counts its lease
// from the START of the request that took or renewed it, on the monotonic clock: the server's copy
// expires no sooner, so a writer paused (SIGSTOP, a long GC) finds on waking that its lease is over
// before it publishes anything, whatever a standby did meanwhile. Renewals never overlap: two
// updates sent with the same revision would refuse one another and give up a lease still held
// (a renewal slower than the renewal interval, on a loaded host). The entry's value names the
// holder and the URL its clients reach it at (`--advertise-url`), so that a standby or a follower
// can point a client at the writer (the `idnc-leader` header).

import { Kvm, type KV } from '@nats-io/kv';
import type { StreamLink } from './stream-link.js';

const LEASE_KEY = 'writer';

export function leaseBucket(stream: string): string {
  return `${stream}_LEADER`;
}

/** What the lease entry holds: who holds it, and the URL its clients reach it at (null: not given). */
export interface LeaseHolder {
  readonly holder: string;
  readonly url: string | null;
}

function encodeHolder(holder: LeaseHolder): string {
  return JSON.stringify(holder);
}

/** The holder an entry names; null for a value that is not one (never trusted blindly: it comes from NATS). */
function decodeHolder(value: string): LeaseHolder | null {
  try {
    const parsed = JSON.parse(value) as Partial<LeaseHolder>;
    if (typeof parsed.holder !== 'string') return null;
    return { holder: parsed.holder, url: typeof parsed.url === 'string' && /^https?:\/\/\S+$/.test(parsed.url) ? parsed.url : null };
  } catch {
    return null;
  }
}

/** The lease's current holder, read from the bucket (null: nobody holds it, or no bucket). */
export async function currentHolder(kv: KV): Promise<LeaseHolder | null> {
  const entry = await kv.get(LEASE_KEY);
  if (entry === null || entry.operation !== 'PUT') return null;
  return decodeHolder(entry.string());
}

/** The lease bucket of `link`'s stream when it exists (a follower reads who writes), else null. */
export async function openLeaseBucket(link: StreamLink): Promise<KV | null> {
  try {
    return await new Kvm(link.nc).open(leaseBucket(link.options.stream));
  } catch {
    return null;
  }
}

export class WriterLease {
  private revision = 0;
  private validUntil = 0;
  /** The renewal in flight: a renewal asked for meanwhile waits for it rather than racing it. */
  private renewing: Promise<boolean> | null = null;

  private constructor(
    private readonly kv: KV,
    private readonly holder: string,
    readonly leaseMs: number,
  ) {}

  static async open(link: StreamLink, replicas: number, leaseMs: number, holder: LeaseHolder): Promise<WriterLease> {
    const kv = await new Kvm(link.nc).create(leaseBucket(link.options.stream), { replicas, history: 1, ttl: leaseMs });
    return new WriterLease(kv, encodeHolder(holder), leaseMs);
  }

  /** Who holds the lease now, as the bucket says (null: nobody, or NATS does not answer). */
  async current(): Promise<LeaseHolder | null> {
    return currentHolder(this.kv).catch(() => null);
  }

  /** True while this process holds the lease (taken or renewed less than leaseMs ago). */
  get held(): boolean {
    return this.revision > 0 && performance.now() < this.validUntil;
  }

  /** Takes the lease if nobody holds it; false when another writer does (or NATS does not answer). */
  async acquire(): Promise<boolean> {
    const started = performance.now();
    try {
      this.revision = await this.kv.create(LEASE_KEY, this.holder);
      this.validUntil = started + this.leaseMs;
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Renews the lease held; false (and the lease is given up) when it was lost or NATS does not
   * answer. A call while a renewal is in flight gets that renewal's outcome.
   */
  renew(): Promise<boolean> {
    this.renewing ??= this.renewOnce().finally(() => (this.renewing = null));
    return this.renewing;
  }

  private async renewOnce(): Promise<boolean> {
    const started = performance.now();
    try {
      this.revision = await this.kv.update(LEASE_KEY, this.holder, this.revision);
      this.validUntil = started + this.leaseMs;
      return true;
    } catch {
      this.revision = 0;
      return false;
    }
  }

  /** Gives the lease up at a clean close, so that a standby takes over at once. */
  async release(): Promise<void> {
    if (!this.held) return;
    const revision = this.revision;
    this.revision = 0;
    await this.kv.delete(LEASE_KEY, { previousSeq: revision }).catch(() => undefined);
  }
}
