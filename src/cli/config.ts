// The settings of `idnc serve` and the `keys` commands: defaults <- environment (IDNC_HOST,
// IDNC_PORT, IDNC_DATA_DIR) <- command-line flags, validated once into a frozen object. Only this
// module and the rest of src/cli/ read the environment or argv; everything else receives these values.

import os from 'node:os';
import { resolve } from 'node:path';
import {
  DATA_DIR_DEFAULT,
  HTTP_CONNECTIONS_MAX,
  HTTP_HEADERS_TIMEOUT_MS,
  HTTP_KEEP_ALIVE_TIMEOUT_MS,
  HTTP_REQUEST_TIMEOUT_MS,
  HTTP_REQUESTS_PER_SOCKET_MAX,
  HTTP_SOCKET_IDLE_TIMEOUT_MS,
  METRICS_LIST_SERIES_MAX,
  REQUEST_NUMBERS_MAX,
  SCRUB_STREAM_NUMBERS_MAX,
  SERVE_HOST_DEFAULT,
  SERVE_PORT_DEFAULT,
  SERVE_WORKERS_MAX,
  SNAPSHOT_INTERVAL_MS_DEFAULT,
  SNAPSHOT_LOG_BYTES_DEFAULT,
} from '../constants.js';
import type { ConnectionLimits } from '../http/server-limits.js';
import type { FsyncMode } from '../persist/log-writer.js';
import type { FollowOptions, ReplicateOptions } from '../engine/types.js';

/** A setting with a bad value; the message names the setting and what is expected. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

export interface ServeFlags {
  host?: string;
  port?: string;
  dataDir?: string;
  fsync?: string;
  snapshotInterval?: string;
  snapshotLogBytes?: string;
  maxNumbers?: string;
  scrubMaxNumbers?: string;
  /** `--workers N` (env IDNC_WORKERS): read by resolveWorkers, not part of ServeConfig. */
  workers?: string;
  headersTimeout?: string;
  requestTimeout?: string;
  keepAliveTimeout?: string;
  maxConnections?: string;
  maxRequestsPerSocket?: string;
  bodyLimit?: string;
  metricsPort?: string;
  /** `--metrics-max-lists` (env IDNC_METRICS_MAX_LISTS). */
  metricsMaxLists?: string;
  /** `--access-log` (env IDNC_ACCESS_LOG=1): log every request, not only errors and slow ones. */
  accessLog?: boolean;
  /** False with `--no-status-fast-path` (env IDNC_STATUS_FAST_PATH=0): every request through Fastify. */
  statusFastPath?: boolean;
  /** `--history-retention` (env IDNC_HISTORY_RETENTION): how long compacted log segments stay in history/. */
  historyRetention?: string;
  /** `--replicate nats://...` (env IDNC_REPLICATE): publish the log to NATS JetStream. */
  replicate?: string;
  /** `--replicate-stream` (env IDNC_REPLICATE_STREAM): the stream published to or followed. */
  replicateStream?: string;
  /** `--replicate-replicas` (env IDNC_REPLICATE_REPLICAS). */
  replicateReplicas?: string;
  /** `--replicate-ack quorum|local` (env IDNC_REPLICATE_ACK). */
  replicateAck?: string;
  /** `--follow nats://...` (env IDNC_FOLLOW): serve reads from a writer's stream, read-only. */
  follow?: string;
  /** `--standby` (env IDNC_STANDBY=1): with --replicate, stand by until the writer lease expires. */
  standby?: boolean;
  /** `--lease-ms` (env IDNC_LEASE_MS): the writer lease, e.g. 3s. */
  leaseMs?: string;
  /** `--advertise-url` (env IDNC_ADVERTISE_URL): the URL clients reach this writer at, named to them by standbys and followers. */
  advertiseUrl?: string;
}

export interface ServeConfig {
  readonly host: string;
  readonly port: number;
  /** Absolute path. */
  readonly dataDir: string;
  readonly fsync: FsyncMode;
  readonly snapshotIntervalMs: number;
  readonly snapshotLogBytes: number;
  readonly requestNumbersMax: number;
  /** Entries one POST /v1/scrub stream may carry (`--scrub-max-numbers`). */
  readonly scrubNumbersMax?: number;
  /** Slow-client and connection limits (server-limits.ts), each a flag with an IDNC_* variable. */
  readonly connections: ConnectionLimits;
  /** Body bytes; undefined: derived from requestNumbersMax (app.ts). */
  readonly bodyBytesMax: number | undefined;
  /** `--metrics-port`: key-less /metrics on METRICS_HOST; null: not served. */
  readonly metricsPort: number | null;
  /** `--metrics-max-lists`: /metrics exports a series per list only while a scrape may see at most this many lists. */
  readonly metricsListSeriesMax: number;
  /** Every request logged at info (access-log.ts); false: errors and slow requests only. */
  readonly accessLog: boolean;
  /** Plain GET status requests answered before Fastify's router (status-fast-path.ts); default true. */
  readonly statusFastPath: boolean;
  /**
   * The follower workers' watching and polling (DncFollowerOptions): IDNC_FOLLOWER_POLL_MS (a
   * positive period, else the default) and IDNC_FOLLOWER_WATCH=0 (poll only), for storage whose
   * change events are unreliable; empty: the library's defaults.
   */
  readonly followerPolling: { readonly pollIntervalMs?: number; readonly watch?: boolean };
  /** `--history-retention`: ms the compacted log stays in history/ (docs/history.md); undefined: the library's 5 years. */
  readonly historyRetentionMs?: number;
  /** `--replicate`: the writer publishes its log to this NATS JetStream stream; absent: it does not. */
  readonly replicate?: ReplicateOptions;
  /** `--follow`: this server follows a writer's stream read-only and opens no log of its own; absent: it does not. */
  readonly follow?: FollowOptions;
}

type Env = Readonly<Record<string, string | undefined>>;

const FSYNC_MODES: readonly FsyncMode[] = ['always', 'interval', 'none'];
const DURATION_UNITS_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const BYTE_UNITS: Record<string, number> = {
  b: 1, kb: 1e3, mb: 1e6, gb: 1e9, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3,
};

/** `--data-dir` <- IDNC_DATA_DIR <- ./snapshots, resolved against the current directory. */
export function resolveDataDir(flag: string | undefined, env: Env = process.env): string {
  const value = flag ?? nonEmpty(env.IDNC_DATA_DIR) ?? DATA_DIR_DEFAULT;
  if (value.trim() === '') throw new ConfigError('--data-dir must not be empty');
  return resolve(value);
}

/** `--workers` <- IDNC_WORKERS <- 1: HTTP worker processes of `idnc serve` (1: no cluster at all). */
export function resolveWorkers(flag: string | undefined, env: Env = process.env): number {
  const text = flag ?? nonEmpty(env.IDNC_WORKERS) ?? '1';
  const workers = /^\d{1,3}$/.test(text.trim()) ? Number(text.trim()) : NaN;
  if (!(workers >= 1 && workers <= SERVE_WORKERS_MAX)) {
    throw new ConfigError(`--workers (IDNC_WORKERS) ${JSON.stringify(text)}: expected a whole number from 1 to ${SERVE_WORKERS_MAX}`);
  }
  return workers;
}

export function loadServeConfig(flags: ServeFlags, env: Env = process.env): ServeConfig {
  const host = flags.host ?? nonEmpty(env.IDNC_HOST) ?? SERVE_HOST_DEFAULT;
  if (host.trim() === '' || /\s/.test(host)) throw new ConfigError(`--host ${JSON.stringify(host)} is not a host name or address`);
  const port = parsePort(flags.port ?? nonEmpty(env.IDNC_PORT) ?? String(SERVE_PORT_DEFAULT));
  return Object.freeze({
    host,
    port,
    dataDir: resolveDataDir(flags.dataDir, env),
    fsync: parseFsync(flags.fsync ?? 'always'),
    snapshotIntervalMs: flags.snapshotInterval === undefined ? SNAPSHOT_INTERVAL_MS_DEFAULT : parseDuration('--snapshot-interval', flags.snapshotInterval),
    snapshotLogBytes: flags.snapshotLogBytes === undefined ? SNAPSHOT_LOG_BYTES_DEFAULT : parseBytes('--snapshot-log-bytes', flags.snapshotLogBytes),
    requestNumbersMax: flags.maxNumbers === undefined ? REQUEST_NUMBERS_MAX : parseCount('--max-numbers', flags.maxNumbers),
    scrubNumbersMax: flags.scrubMaxNumbers === undefined ? SCRUB_STREAM_NUMBERS_MAX : parseCount('--scrub-max-numbers', flags.scrubMaxNumbers),
    ...hardeningSettings(flags, env),
    accessLog: flags.accessLog === true || parseSwitch('IDNC_ACCESS_LOG', env.IDNC_ACCESS_LOG),
    statusFastPath: flags.statusFastPath !== false && ((env.IDNC_STATUS_FAST_PATH ?? '').trim() === '' || parseSwitch('IDNC_STATUS_FAST_PATH', env.IDNC_STATUS_FAST_PATH)),
    followerPolling: followerPolling(env),
    ...historyRetention(flags.historyRetention ?? nonEmpty(env.IDNC_HISTORY_RETENTION)),
    ...replicationSettings(flags, env, advertiseUrl(flags, env, host, port)),
  });
}

/**
 * `--advertise-url` <- IDNC_ADVERTISE_URL <- http://HOST:PORT (this host's name when listening on
 * every address; none with --port 0, whose port is known only once listening).
 */
function advertiseUrl(flags: ServeFlags, env: Env, host: string, port: number): string | undefined {
  const given = flags.advertiseUrl ?? nonEmpty(env.IDNC_ADVERTISE_URL);
  if (given !== undefined) {
    let url: URL | null = null;
    try {
      url = new URL(given);
    } catch {
      // reported below
    }
    if (url === null || (url.protocol !== 'http:' && url.protocol !== 'https:') || /\s/.test(given)) {
      throw new ConfigError(`--advertise-url (IDNC_ADVERTISE_URL) ${JSON.stringify(given)}: expected the URL clients reach this server at, like http://h1.example:3000`);
    }
    return given.replace(/\/+$/, '');
  }
  if (port === 0) return undefined;
  const name = host === '0.0.0.0' || host === '::' ? os.hostname() : host;
  return `http://${name.includes(':') ? `[${name}]` : name}:${port}`;
}

/** `--replicate*` and `--follow` (flag <- IDNC_* variable); refuses both at once. */
function replicationSettings(flags: ServeFlags, env: Env, advertised: string | undefined): Pick<ServeConfig, 'replicate' | 'follow'> {
  const replicate = flags.replicate ?? nonEmpty(env.IDNC_REPLICATE);
  const follow = flags.follow ?? nonEmpty(env.IDNC_FOLLOW);
  const stream = flags.replicateStream ?? nonEmpty(env.IDNC_REPLICATE_STREAM);
  const replicas = flags.replicateReplicas ?? nonEmpty(env.IDNC_REPLICATE_REPLICAS);
  const ack = flags.replicateAck ?? nonEmpty(env.IDNC_REPLICATE_ACK);
  const standby = flags.standby === true || parseSwitch('IDNC_STANDBY', env.IDNC_STANDBY);
  const lease = flags.leaseMs ?? nonEmpty(env.IDNC_LEASE_MS);
  if ((standby || lease !== undefined) && replicate === undefined) throw new ConfigError('--standby and --lease-ms need --replicate');
  if (standby && ack === 'local') throw new ConfigError('--standby needs --replicate-ack quorum: an ack-local writer holds no lease');
  if (replicate !== undefined && follow !== undefined) throw new ConfigError('--replicate and --follow exclude each other: a server writes (and publishes) or follows');
  if (stream !== undefined && !/^[A-Za-z0-9_-]{1,64}$/.test(stream)) throw new ConfigError(`--replicate-stream ${JSON.stringify(stream)}: letters, digits, _ and - (at most 64)`);
  if (ack !== undefined && ack !== 'quorum' && ack !== 'local') throw new ConfigError(`--replicate-ack ${JSON.stringify(ack)}: expected quorum or local`);
  const named = stream === undefined ? {} : { stream };
  if (follow !== undefined) return { follow: Object.freeze({ servers: checkServers('--follow', follow), ...named }) };
  if (replicate === undefined) return {};
  return {
    replicate: Object.freeze({
      servers: checkServers('--replicate', replicate),
      ...named,
      ...(replicas === undefined ? {} : { replicas: parseCount('--replicate-replicas (IDNC_REPLICATE_REPLICAS)', replicas) }),
      ...(ack === undefined ? {} : { ack: ack as 'quorum' | 'local' }),
      ...(standby ? { standby } : {}),
      ...(lease === undefined ? {} : { leaseMs: parseDuration('--lease-ms (IDNC_LEASE_MS)', lease) }),
      ...(advertised === undefined ? {} : { advertiseUrl: advertised }),
    }),
  };
}

/** NATS URLs separated by commas: each nats://host:port (or host:port). */
function checkServers(option: string, text: string): string {
  const servers = text.split(',').map((server) => server.trim());
  for (const server of servers) {
    if (!/^((nats|tls):\/\/)?[^\s/,]+(:\d{1,5})?$/.test(server)) throw new ConfigError(`${option} ${JSON.stringify(text)}: expected NATS URLs like nats://host:4222, separated by commas`);
  }
  return servers.join(',');
}

/** IDNC_FOLLOWER_POLL_MS (milliseconds) and IDNC_FOLLOWER_WATCH (1 or 0): unset keeps the follower's defaults. */
function followerPolling(env: Env): ServeConfig['followerPolling'] {
  const poll = nonEmpty(env.IDNC_FOLLOWER_POLL_MS);
  const watch = nonEmpty(env.IDNC_FOLLOWER_WATCH);
  return Object.freeze({
    ...(poll === undefined ? {} : { pollIntervalMs: parseCount('IDNC_FOLLOWER_POLL_MS (milliseconds)', poll) }),
    ...(watch === undefined || parseSwitch('IDNC_FOLLOWER_WATCH', watch) ? {} : { watch: false }),
  });
}

/** The hardening settings: flag <- IDNC_* variable <- constant (0 = unlimited where noted). */
function hardeningSettings(flags: ServeFlags, env: Env): Pick<ServeConfig, 'connections' | 'bodyBytesMax' | 'metricsPort' | 'metricsListSeriesMax'> {
  const setting = (flag: string | undefined, name: string): string | undefined => flag ?? nonEmpty(env[name]);
  const duration = (flag: string | undefined, name: string, option: string, fallback: number): number => {
    const text = setting(flag, name);
    return text === undefined ? fallback : parseDuration(`${option} (${name})`, text);
  };
  const count = (flag: string | undefined, name: string, option: string, fallback: number): number => {
    const text = setting(flag, name);
    if (text === undefined) return fallback;
    return text.trim() === '0' ? 0 : parseCount(`${option} (${name})`, text);
  };
  const headersTimeoutMs = duration(flags.headersTimeout, 'IDNC_HEADERS_TIMEOUT', '--headers-timeout', HTTP_HEADERS_TIMEOUT_MS);
  const requestTimeoutMs = duration(flags.requestTimeout, 'IDNC_REQUEST_TIMEOUT', '--request-timeout', HTTP_REQUEST_TIMEOUT_MS);
  if (headersTimeoutMs > requestTimeoutMs) {
    throw new ConfigError(`--headers-timeout (${headersTimeoutMs} ms) must not be longer than --request-timeout (${requestTimeoutMs} ms)`);
  }
  const body = setting(flags.bodyLimit, 'IDNC_BODY_LIMIT');
  const metricsPort = setting(flags.metricsPort, 'IDNC_METRICS_PORT');
  const metricsMaxLists = setting(flags.metricsMaxLists, 'IDNC_METRICS_MAX_LISTS');
  return {
    connections: Object.freeze({
      headersTimeoutMs,
      requestTimeoutMs,
      keepAliveTimeoutMs: duration(flags.keepAliveTimeout, 'IDNC_KEEP_ALIVE_TIMEOUT', '--keep-alive-timeout', HTTP_KEEP_ALIVE_TIMEOUT_MS),
      socketIdleTimeoutMs: HTTP_SOCKET_IDLE_TIMEOUT_MS,
      connectionsMax: count(flags.maxConnections, 'IDNC_MAX_CONNECTIONS', '--max-connections', HTTP_CONNECTIONS_MAX),
      requestsPerSocketMax: count(flags.maxRequestsPerSocket, 'IDNC_MAX_REQUESTS_PER_SOCKET', '--max-requests-per-socket', HTTP_REQUESTS_PER_SOCKET_MAX),
    }),
    bodyBytesMax: body === undefined ? undefined : parseBytes('--body-limit (IDNC_BODY_LIMIT)', body),
    metricsPort: metricsPort === undefined ? null : parsePort(metricsPort),
    metricsListSeriesMax: metricsMaxLists === undefined ? METRICS_LIST_SERIES_MAX : parseCount('--metrics-max-lists (IDNC_METRICS_MAX_LISTS)', metricsMaxLists),
  };
}

/** An on/off environment variable: 1/true/yes on, 0/false/no or unset off, anything else an error. */
function parseSwitch(name: string, value: string | undefined): boolean {
  const text = (value ?? '').trim().toLowerCase();
  if (text === '1' || text === 'true' || text === 'yes') return true;
  if (text === '' || text === '0' || text === 'false' || text === 'no') return false;
  throw new ConfigError(`${name} ${JSON.stringify(value)}: expected 1 or 0`);
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

export function parsePort(text: string): number {
  const port = /^\d{1,5}$/.test(text) ? Number(text) : NaN;
  if (!(port >= 0 && port <= 65535)) throw new ConfigError(`port ${JSON.stringify(text)} is not a port number (0-65535)`);
  return port;
}

function parseFsync(text: string): FsyncMode {
  if (!(FSYNC_MODES as readonly string[]).includes(text)) {
    throw new ConfigError(`--fsync ${JSON.stringify(text)}: expected always, interval or none`);
  }
  return text as FsyncMode;
}

/** `5m`, `30s`, `500ms`, `1h`: a positive whole number with a unit. */
export function parseDuration(setting: string, text: string): number {
  const match = /^(\d+)\s*(ms|s|m|h)$/i.exec(text.trim());
  const ms = match === null ? NaN : Number(match[1]) * DURATION_UNITS_MS[match[2]!.toLowerCase()]!;
  if (!(ms > 0) || !Number.isSafeInteger(ms)) {
    throw new ConfigError(`${setting} ${JSON.stringify(text)}: expected a positive duration like 500ms, 30s, 5m or 1h`);
  }
  return ms;
}

/** `67108864`, `64MiB`, `64MB`, `512KiB`: a positive whole number of bytes, unit optional. */
export function parseBytes(setting: string, text: string): number {
  const match = /^(\d+)\s*([a-z]*)$/i.exec(text.trim());
  const unit = BYTE_UNITS[(match?.[2] || 'b').toLowerCase()];
  const bytes = match === null || unit === undefined ? NaN : Number(match[1]) * unit;
  if (!(bytes > 0) || !Number.isSafeInteger(bytes)) {
    throw new ConfigError(`${setting} ${JSON.stringify(text)}: expected a positive size like 67108864, 512KiB or 64MiB`);
  }
  return bytes;
}

function parseCount(setting: string, text: string): number {
  const count = /^\d+$/.test(text.trim()) ? Number(text.trim()) : NaN;
  if (!(count >= 1) || !Number.isSafeInteger(count)) throw new ConfigError(`${setting} ${JSON.stringify(text)}: expected a positive whole number`);
  return count;
}

const RETENTION_UNITS_MS: Record<string, number> = { h: 3_600_000, d: 86_400_000, y: 365.25 * 86_400_000 };

/** `--history-retention 5y` (or 30d, 12h): a positive whole number with a unit; absent: the default. */
function historyRetention(text: string | undefined): { historyRetentionMs?: number } {
  if (text === undefined) return {};
  const match = /^(\d+)\s*(h|d|y)$/i.exec(text.trim());
  const ms = match === null ? NaN : Number(match[1]) * RETENTION_UNITS_MS[match[2]!.toLowerCase()]!;
  if (!(ms > 0) || !Number.isSafeInteger(Math.round(ms))) {
    throw new ConfigError(`--history-retention (IDNC_HISTORY_RETENTION) ${JSON.stringify(text)}: expected a positive duration like 5y, 365d or 12h`);
  }
  return { historyRetentionMs: Math.round(ms) };
}
