// Which key replication `idnc serve` runs (src/replicate/key-replication.ts, docs/key-replication.md):
// `--follow` copies the bucket `<stream>_KEYS` into this host's keys.json; `--replicate` publishes
// this host's keys.json while this host is the writer and copies the bucket while it stands by;
// neither: none. Under `--replicate-ack quorum` who the writer is changes (the writer lease), so the
// role follows the replicated log's state, read every KEY_REPLICATION_CHECK_MS: until the log knows
// whether this host holds the lease it does neither (a standby starting must not publish its
// keys.json over the writer's); a host taking over publishes only once its copy has caught up with
// the bucket (so a key the writer created just before it died is not deleted by a copy that missed
// it; a revoke is final anyway), or after KEY_REPLICATION_TAKEOVER_WAIT_MS without (a bucket no
// writer created yet is never caught up with); a host stepping down copies at once. Under
// `--replicate-ack local` there is no lease: the host always publishes. Under `--workers N` only the
// writer worker runs it: the other workers read the same keys.json on the same host.

import cluster from 'node:cluster';
import { KEY_REPLICATION_CHECK_MS, KEY_REPLICATION_TAKEOVER_WAIT_MS, REPLICATION_STREAM_DEFAULT } from '../constants.js';
import type { EngineLogger } from '../logger.js';
import type { WatchedKeyStore } from '../keys/key-store.js';
import { KeyReplication, type KeyReplicationOptions, type KeyReplicationRole, type KeysHealth } from '../replicate/key-replication.js';
import { parseServers } from '../replicate/stream-link.js';
import { WORKER_ROLE_ENV } from './cluster-messages.js';
import type { ServeConfig } from './config.js';

/** What the server holds of the key replication: /healthz's `keys`, and its close. */
export interface ServeKeyReplication {
  health(): KeysHealth;
  close(): Promise<void>;
}

/** `writerState`: the replicated log's state (`stats().replication.state`; undefined before the engine is open). */
export function startKeyReplication(config: ServeConfig, keys: WatchedKeyStore, logger: EngineLogger, writerState: () => string | undefined): ServeKeyReplication | undefined {
  if (cluster.isWorker && process.env[WORKER_ROLE_ENV] !== 'writer') return undefined;
  const common = { dataDir: config.dataDir, keys, logger };
  if (config.follow !== undefined) {
    const { servers, stream } = config.follow;
    return KeyReplication.start({ ...common, role: 'follow', servers: parseServers(servers, '--follow'), stream: stream ?? REPLICATION_STREAM_DEFAULT });
  }
  if (config.replicate === undefined) return undefined;
  const { servers, stream, replicas, ack } = config.replicate;
  const options = {
    ...common,
    servers: parseServers(servers, '--replicate'),
    stream: stream ?? REPLICATION_STREAM_DEFAULT,
    ...(replicas === undefined ? {} : { replicas }),
  };
  if (ack === 'local') return KeyReplication.start({ ...options, role: 'publish' });
  return new WriterKeyRoles(options, () => writerRole(writerState()));
}

/** The role the replicated log's state asks for: undefined while it does not know (not open, connecting, reconciling). */
function writerRole(state: string | undefined): KeyReplicationRole | undefined {
  if (state === 'ready') return 'publish';
  if (state === 'standby') return 'follow';
  return undefined;
}

/** Before any role: this host's keys.json, not yet compared with the bucket. */
const NO_ROLE_YET: KeysHealth = { source: 'file', stale: true, lastUpdateAt: null };

/** Publishes while this host holds the writer lease, copies while it stands by (the header says when it switches). */
class WriterKeyRoles implements ServeKeyReplication {
  private current: KeyReplication | null = null;
  private role: KeyReplicationRole | null = null;
  /** When the log first asked to publish while this host was copying: the copy must be current after it. */
  private publishWantedAt: number | null = null;
  private switching: Promise<void> | null = null;
  private closed = false;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly options: Omit<KeyReplicationOptions, 'role'>,
    private readonly wanted: () => KeyReplicationRole | undefined,
  ) {
    this.timer = setInterval(() => this.tick(), KEY_REPLICATION_CHECK_MS);
    this.timer.unref();
    this.tick();
  }

  health(): KeysHealth {
    return this.current?.health() ?? NO_ROLE_YET;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    await this.switching;
    await this.current?.close();
  }

  private tick(): void {
    if (this.closed || this.switching !== null) return;
    const wanted = this.wanted();
    if (wanted === this.role) this.publishWantedAt = null;
    if (wanted === undefined || wanted === this.role) return;
    if (wanted === 'publish' && this.current !== null) {
      this.publishWantedAt ??= Date.now();
      const caughtUp = this.current.caughtUpSince(this.publishWantedAt);
      if (!caughtUp && Date.now() - this.publishWantedAt <= KEY_REPLICATION_TAKEOVER_WAIT_MS) return;
      if (!caughtUp) this.options.logger.warn(`API keys: the copy of the writer's keys was not found caught up within ${KEY_REPLICATION_TAKEOVER_WAIT_MS} ms of taking the writer lease: publishing this host's keys.json`);
    }
    this.switching = this.switchTo(wanted).finally(() => (this.switching = null));
  }

  private async switchTo(role: KeyReplicationRole): Promise<void> {
    const previous = this.current;
    this.current = null;
    await previous?.close();
    if (this.closed) return;
    this.options.logger.info(role === 'publish' ? 'API keys: this host holds the writer lease: publishing its keys.json' : 'API keys: this host stands by: copying the writer\'s keys');
    this.current = KeyReplication.start({ ...this.options, role });
    this.role = role;
    this.publishWantedAt = null;
  }
}
