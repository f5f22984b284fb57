// `idnc serve`: validates the settings, then runs one server process (serve-server.ts) or, with
// `--workers N`, the cluster (serve-cluster.ts).

import cluster from 'node:cluster';
import type { Command } from 'commander';
import { ConfigError, loadServeConfig, resolveWorkers, type ServeConfig, type ServeFlags } from './config.js';
import { openDnc } from '../open.js';
import { serveCluster } from './serve-cluster.js';
import { reportStartFailure, runServer, signalled, writerOptions, type ServeRole } from './serve-server.js';

export function registerServeCommand(program: Command): void {
  program
    .command('serve')
    .description('serve the DNCScrub-compatible HTTP API (GET|POST /app/main/rpc/pdnc)')
    .option('--host <host>', 'address to listen on (env IDNC_HOST, default 127.0.0.1)')
    .option('--port <port>', 'port to listen on, 0 for any free port (env IDNC_PORT, default 3000)')
    .option('--data-dir <dir>', 'data directory: keys.json, log and snapshots (env IDNC_DATA_DIR, default ./snapshots)')
    .option('--fsync <mode>', 'always | interval | none (default always)')
    .option('--snapshot-interval <duration>', 'snapshot period when something changed, e.g. 5m (default 5m)')
    .option('--snapshot-log-bytes <bytes>', 'snapshot once the log since the last one exceeds this, e.g. 64MiB (default 64MiB)')
    .option('--max-numbers <count>', 'most numbers one request may carry (default 100000)')
    .option('--scrub-max-numbers <count>', 'most entries one POST /v1/scrub stream may carry (default 10000000)')
    .option('--headers-timeout <duration>', 'the request head must arrive within this, else 408 (env IDNC_HEADERS_TIMEOUT, default 10s)')
    .option('--request-timeout <duration>', 'the whole request must arrive within this, else 408 (env IDNC_REQUEST_TIMEOUT, default 60s)')
    .option('--keep-alive-timeout <duration>', 'idle keep-alive connections are closed after this (env IDNC_KEEP_ALIVE_TIMEOUT, default 65s)')
    .option('--max-connections <count>', 'open connections at once, 0 = unlimited (env IDNC_MAX_CONNECTIONS, default 4096)')
    .option('--max-requests-per-socket <count>', 'requests per keep-alive connection, 0 = unlimited (env IDNC_MAX_REQUESTS_PER_SOCKET, default 10000)')
    .option('--body-limit <bytes>', 'request body limit, e.g. 4MiB (env IDNC_BODY_LIMIT, default from --max-numbers)')
    .option('--metrics-port <port>', 'also serve GET /metrics without a key on 127.0.0.1:PORT (env IDNC_METRICS_PORT)')
    .option('--metrics-max-lists <count>', '/metrics has a series per list only up to this many lists, else per organisation (env IDNC_METRICS_MAX_LISTS, default 1000)')
    .option('--workers <count>', 'HTTP worker processes on the port: one writes, the others follow the log (env IDNC_WORKERS, default 1)')
    .option('--access-log', 'log every request (method, path, status, time; never numbers or keys), not only errors and slow ones (env IDNC_ACCESS_LOG=1)')
    .option('--no-status-fast-path', 'answer every request through Fastify, plain GET status requests included (env IDNC_STATUS_FAST_PATH=0)')
    .option('--history-retention <duration>', 'keep the compacted log for the compliance history this long, e.g. 5y, 365d (env IDNC_HISTORY_RETENTION, default 5y; shorter warns at every start)')
    .option('--replicate <servers>', 'also publish every change to NATS JetStream: nats://h1:4222,nats://h2:4222 (env IDNC_REPLICATE)')
    .option('--replicate-stream <name>', 'the JetStream stream published to or followed (env IDNC_REPLICATE_STREAM, default IDNC)')
    .option('--replicate-replicas <count>', 'copies of a stream this writer creates (env IDNC_REPLICATE_REPLICAS, default 3)')
    .option('--replicate-ack <rule>', 'quorum: acknowledge once the stream has a change too; local: after the local fsync, publish behind (env IDNC_REPLICATE_ACK, default quorum)')
    .option('--follow <servers>', 'serve reads from a writer\'s NATS JetStream stream, read-only, on any host (env IDNC_FOLLOW)')
    .option('--standby', 'with --replicate: follow the stream and take over writing when the writer lease expires (env IDNC_STANDBY=1)')
    .option('--lease-ms <duration>', 'with --replicate: the writer lease, renewed every third of it, e.g. 3s (env IDNC_LEASE_MS, default 3s)')
    .option('--advertise-url <url>', 'with --replicate: the URL clients reach this server at, named by standbys and followers in idnc-leader (env IDNC_ADVERTISE_URL, default http://HOST:PORT)')
    .action(async (flags: ServeFlags) => {
      // Exit explicitly: after a clean close nothing the server started may keep the process alive.
      process.exit(await serve(flags));
    });
}
export async function serve(flags: ServeFlags): Promise<number> {
  let config: ServeConfig;
  let workers: number;
  try {
    config = loadServeConfig(flags);
    workers = resolveWorkers(flags.workers);
  } catch (error) {
    reportStartFailure(error);
    return 1;
  }
  if (config.follow !== undefined && workers > 1) {
    reportStartFailure(new ConfigError('--follow serves one process: --workers must be 1'));
    return 1;
  }
  if (workers > 1 || cluster.isWorker) {
    return serveCluster(config, workers);
  }
  return runServer(config, SINGLE_PROCESS);
}

const SINGLE_PROCESS: ServeRole = {
  logBindings: {},
  openEngine: (config, logger, fsyncObserver, onWriterStopped) =>
    config.follow !== undefined ? openDnc({ follow: config.follow, logger }) : openDnc(writerOptions(config, logger, fsyncObserver, onWriterStopped)),
  answerHeaders: {},
  listening: () => undefined,
  stopRequested: () => signalled(),
};
