// The server of `idnc serve`, run by the single process and by each worker of `--workers N`: it
// opens the key store and the engine (as its role says), listens, and shuts down gracefully on a
// stop request (stop accepting, finish in-flight requests, close the engine, exit 0). If the
// engine's log writer fail-stops, it shuts down the same way but exits 1, so a supervisor restarts
// it (the restart replays the log, or refuses until repaired). Logs (pino, JSON) go to stderr;
// stdout carries only what the user is meant to read, the first key with a ready-to-paste curl line.
// A module of its own so that serve.ts (the command) can pick the cluster or this without the
// cluster modules importing the command back.

import { mkdir } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { pino, type Logger } from 'pino';
import { ConfigError, type ServeConfig } from './config.js';
import { DIRECTORY_MODE_OWNER_ONLY, METRICS_HOST, SHUTDOWN_GRACE_MS } from '../constants.js';
import type { EngineLogger } from '../logger.js';
import type { Dnc } from '../engine/views.js';
import { IdncError } from '../errors.js';
import { buildApp, healthBody, type AppOptions } from '../http/app.js';
import { safeSerializers } from '../http/log-serializers.js';
import { IdncMetrics } from '../http/metrics.js';
import { METRICS_PATH, portOf, serveMetricsOnly } from '../http/metrics-route.js';
import { PDNC_PATH } from '../http/pdnc-route.js';
import { ensureFirstKey, forgetUnshownFirstKey, type CreatedKey } from '../keys/key-admin.js';
import { KeysFileError } from '../keys/key-records.js';
import { openKeyStore, type WatchedKeyStore } from '../keys/key-store.js';
import { startKeyReplication, type ServeKeyReplication } from './serve-keys.js';

/** The lines of one component (engine, keys): one child logger each, so `component` appears once. */
function engineLoggerOf(logger: Logger, component: 'engine' | 'keys'): EngineLogger {
  const engine = logger.child({ component });
  return {
    info: (message) => engine.info(message),
    warn: (message) => engine.warn(message),
    error: (message) => engine.error(message),
  };
}

/** Problems the operator can fix get one clear line; anything else is a bug and keeps its stack. */
export function reportStartFailure(error: unknown): void {
  const known = error instanceof ConfigError || error instanceof KeysFileError || error instanceof IdncError;
  const code = (error as NodeJS.ErrnoException).code;
  if (known || code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') {
    process.stderr.write(`idnc serve: ${(error as Error).message}\n`);
  } else {
    process.stderr.write(`idnc serve: failed to start: ${(error as Error).stack ?? String(error)}\n`);
  }
}

function curlHost(host: string): string {
  if (host === '0.0.0.0') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return host.includes(':') ? `[${host}]` : host;
}

export function printFirstKey(created: CreatedKey, host: string, port: number): void {
  const url = `http://${curlHost(host)}:${port}${PDNC_PATH}?actionType=count`;
  process.stdout.write(
    `\nidnc: created the first API key (organisation "${created.record.org}", scopes ${created.record.scopes.join(', ')}, id ${created.record.id}).\n` +
      `It is shown only this once; keep it (more keys: idnc keys create --org ORG):\n\n  ${created.key}\n\n` +
      `Try it:\n\n  curl -H 'loginId: ${created.key}' '${url}'\n\n`,
  );
}

/**
 * Whether this server makes (and prints) the first admin key when keys.json is missing: not a
 * follower's or a standby's, whose keys come from the writer through NATS (a key of its own would be
 * replaced by the copy, or published over the writer's keys if the standby took over first).
 */
export function makesFirstKey(config: ServeConfig): boolean {
  return config.follow === undefined && config.replicate?.standby !== true;
}

/** What differs between the one process of `idnc serve` and a worker of `--workers N` (serve-cluster.ts). */
export interface ServeRole {
  /** pino bindings added to every log line (a worker's slot). */
  readonly logBindings: Record<string, unknown>;
  openEngine(config: ServeConfig, logger: EngineLogger, fsyncObserver?: (seconds: number) => void, onWriterStopped?: (reason: string) => void): Promise<Dnc>;
  /** Headers every answer carries (a worker's identifying `idnc-worker`). */
  readonly answerHeaders: Readonly<Record<string, string>>;
  /** Called once listening on `port`; `health` gives this server's own GET /healthz body. */
  listening(port: number, dnc: Dnc, health: () => string): void;
  /** GET /healthz's body from another process (AppOptions.health); absent: this server's own. */
  readonly health?: (own: () => string) => Promise<string>;
  /** Resolves with a reason when the process must stop (a signal, or the cluster primary). */
  stopRequested(): Promise<string>;
  /** A worker's rate limiter and failed-authentication throttle, shared through the primary; absent: the app's own. */
  readonly limits?: Pick<AppOptions, 'rateLimiter' | 'authThrottle'>;
}

/** The writer engine's options from the serve settings (single process and cluster writer alike). */
export function writerOptions(config: ServeConfig, logger: EngineLogger, fsyncObserver?: (seconds: number) => void, onWriterStopped?: (reason: string) => void) {
  return {
    ...(fsyncObserver === undefined ? {} : { fsyncObserver }),
    ...(onWriterStopped === undefined ? {} : { onWriterStopped }),
    dataDir: config.dataDir,
    fsync: config.fsync,
    snapshotIntervalMs: config.snapshotIntervalMs,
    snapshotLogBytes: config.snapshotLogBytes,
    logger,
    ...(config.historyRetentionMs === undefined ? {} : { historyRetentionMs: config.historyRetentionMs }),
    ...(config.replicate === undefined ? {} : { replicate: config.replicate }),
  };
}

/** Resolves with the name of the first SIGINT/SIGTERM. */
export function signalled(): Promise<string> {
  return new Promise((resolve) => {
    const onSignal = (signal: NodeJS.Signals): void => {
      process.removeListener('SIGINT', onSignal);
      process.removeListener('SIGTERM', onSignal);
      resolve(signal);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  });
}

export async function runServer(config: ServeConfig, role: ServeRole): Promise<number> {
  const logger = pino({ level: 'info', serializers: safeSerializers }, pino.destination({ fd: 2, sync: true })).child(role.logBindings);
  const engineLogger = engineLoggerOf(logger, 'engine');
  let keys: WatchedKeyStore | undefined;
  let keyReplication: ServeKeyReplication | undefined;
  let dnc: Dnc | undefined;
  let firstKey: CreatedKey | undefined;
  // Listen for SIGINT/SIGTERM before anything else: a signal between the ready message and a later
  // listener would take Node's default action and kill the process without a clean close.
  const stopRequested = role.stopRequested();
  const writerStopped = new WriterStopped(logger);
  try {
    await mkdir(config.dataDir, { recursive: true, mode: DIRECTORY_MODE_OWNER_ONLY });
    firstKey = makesFirstKey(config) ? await ensureFirstKey(config.dataDir) : undefined;
    keys = await openKeyStore(config.dataDir, engineLoggerOf(logger, 'keys'));
    // Before the engine, which may take a while to open: a follower has the writer's keys sooner.
    keyReplication = startKeyReplication(config, keys, engineLoggerOf(logger, 'keys'), () => dnc?.stats().replication?.state);
    const metrics = new IdncMetrics({ listSeriesMax: config.metricsListSeriesMax });
    dnc = await role.openEngine(config, engineLogger, metrics.observeFsync, writerStopped.observe);
    const keysHealthOf = keyReplication === undefined ? undefined : keyReplication.health.bind(keyReplication);
    const keysHealth = keysHealthOf === undefined ? {} : { keysHealth: keysHealthOf };
    const relayedHealth = role.health === undefined ? {} : { health: role.health };
    const limits = { requestNumbersMax: config.requestNumbersMax, ...(config.bodyBytesMax === undefined ? {} : { bodyBytesMax: config.bodyBytesMax }) };
    const app = buildApp({ dnc, keys: keys.store, logger, limits, connections: config.connections, metrics, scrubNumbersMax: config.scrubNumbersMax, accessLog: config.accessLog, statusFastPath: config.statusFastPath, answerHeaders: role.answerHeaders, ...role.limits, ...keysHealth, ...relayedHealth });
    await app.listen({ host: config.host, port: config.port });
    // Fastify has no logger of its own (src/http/access-log.ts): its start line is written here.
    for (const address of app.addresses()) if (typeof address !== 'string') logger.info(`Server listening at ${listeningUrl(address)}`);
    const { port } = app.server.address() as AddressInfo;
    if (firstKey !== undefined) printFirstKey(firstKey, config.host, port);
    firstKey = undefined;
    const engine = dnc;
    role.listening(port, dnc, () => healthBody(engine, keysHealthOf));
    const metricsServer = config.metricsPort === null ? null : await serveMetricsOnly(metrics, METRICS_HOST, config.metricsPort);
    if (metricsServer !== null) logger.info(`metrics without a key on http://${METRICS_HOST}:${portOf(metricsServer)}${METRICS_PATH}`);
    const exitCode = await untilStopped(Promise.race([stopRequested, writerStopped.stopped]), async () => {
      metricsServer?.close();
      await app.close();
      keys?.close();
      await keyReplication?.close();
      await dnc?.close();
    }, logger);
    return writerStopped.happened ? 1 : exitCode;
  } catch (error) {
    reportStartFailure(error);
    keys?.close();
    await keyReplication?.close().catch(() => undefined);
    await dnc?.close().catch(() => undefined);
    if (firstKey !== undefined) await forgetUnshownFirstKey(config.dataDir, firstKey).catch(() => undefined);
    return 1;
  }
}

/** A fail-stop of the engine's log writer: one clear log line, then the server stops and exits 1. */
class WriterStopped {
  happened = false;
  readonly stopped: Promise<string>;
  readonly observe: (reason: string) => void;

  constructor(logger: Logger) {
    let resolve!: (reason: string) => void;
    this.stopped = new Promise((done) => (resolve = done));
    this.observe = (reason) => {
      if (this.happened) return;
      this.happened = true;
      logger.fatal(`the log writer stopped (${reason}): exiting with code 1; a restart replays the log, or refuses until \`idnc repair --yes\``);
      resolve('the log writer stopped');
    };
  }
}

/** As Fastify writes it: http://127.0.0.1:3000, http://[::1]:3000. */
function listeningUrl(address: AddressInfo): string {
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return `http://${host}:${address.port}`;
}

/** Waits for `requested`, then runs `stop` within SHUTDOWN_GRACE_MS; resolves to the exit code. */
function untilStopped(requested: Promise<string>, stop: () => Promise<void>, logger: Logger): Promise<number> {
  return new Promise((resolve) => {
    const onStop = (reason: string): void => {
      logger.info(`${reason}: finishing in-flight requests, then closing`);
      const timer = setTimeout(() => {
        logger.error(`shutdown took longer than ${SHUTDOWN_GRACE_MS} ms; exiting without a clean close`);
        resolve(1);
      }, SHUTDOWN_GRACE_MS);
      stop().then(
        () => {
          clearTimeout(timer);
          logger.info('closed cleanly');
          resolve(0);
        },
        (error: unknown) => {
          clearTimeout(timer);
          logger.error({ err: error }, 'shutdown failed');
          resolve(1);
        },
      );
    };
    void requested.then(onStop);
  });
}
