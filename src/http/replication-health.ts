// GET /healthz's `replication` part on a server that replicates (`--replicate`, a `--standby`) or
// follows a stream (`--follow`): its role, whether NATS answers, how far it is (its last seq beside
// the stream's) and who writes, so a load balancer or an operator sees a standby, a follower
// behind, or a writer cut off from NATS without an admin key. Read from the engine's own figures
// on every request: nothing is cached, nothing is asked of NATS here.

import type { Dnc } from '../engine/views.js';

export interface ReplicationHealth {
  /** 'writer' (publishing or trying to), 'standby' (another writer holds the lease) or 'follower' (`--follow`). */
  readonly role: 'writer' | 'standby' | 'follower';
  /** The replication state ('ready', 'connecting', 'reconciling', 'standby', 'diverged', 'closed'). */
  readonly state: string;
  /** Why the state is not 'ready' ('' when it is). */
  readonly reason: string;
  /** False while NATS is unreachable. */
  readonly connected: boolean;
  /** The last seq this server shows. */
  readonly lastSeq: number;
  /** The last seq known to be in the stream. */
  readonly streamSeq: number;
  /** A follower: milliseconds since it last found everything in the stream applied; null elsewhere. */
  readonly lagMs: number | null;
  /** A writer under --replicate-ack local: changes acknowledged here and not yet in the stream. */
  readonly backlog: number;
  /** The URL of the writer that takes changes, when known (`idnc-leader`). */
  readonly leader: string | null;
}

/** The replication part of /healthz, or null on a server that neither replicates nor follows a stream. */
export function replicationHealth(dnc: Dnc): ReplicationHealth | null {
  const stats = dnc.stats();
  const replication = stats.replication;
  if (replication === undefined) return null;
  const role = replication.role;
  return {
    role,
    state: replication.state,
    reason: replication.reason,
    connected: replication.state !== 'connecting' && replication.state !== 'closed',
    lastSeq: dnc.lastSeq,
    streamSeq: replication.streamSeq,
    lagMs: role === 'follower' ? (stats.follower?.lagMs ?? null) : null,
    backlog: replication.backlog,
    leader: replication.leader,
  };
}
