// Prometheus metrics (prom-client, one registry per app so tests and workers never share state).
// Per request: a Map lookup and a few increments into plain per-series arrays, exported at scrape
// time as the request counter and latency histogram (prom-client's own observe() hashes the label
// object on every call, about 2 µs, too much on a route that answers in tens of µs). Engine figures (numbers per list, log since
// the last snapshot, snapshot age and duration, writer state) are read from `dnc.stats()` only when
// scraped; fsync latency is pushed by the engine through `fsyncObserver`. Label values come only
// from closed sets (registered route, known method and action, status code), so a hostile client
// cannot grow the series. Per-list series are exported only while the lists a scrape may see are at
// most `listSeriesMax` (`idnc serve --metrics-max-lists`, default METRICS_LIST_SERIES_MAX), read a
// page at a time; above it only the per-organisation series, read from the engine's running counts:
// a scrape never walks every list.

import { Gauge, Histogram, Registry, type Metric } from 'prom-client';
import type { FastifyRequest } from 'fastify';
import { LISTS_PAGE_LIMIT_MAX, METRICS_FSYNC_SECONDS_BUCKETS, METRICS_LIST_SERIES_MAX, METRICS_REQUEST_SECONDS_BUCKETS } from '../constants.js';
import type { ListStats, OrganisationStats } from '../engine/types.js';
import type { Dnc } from '../engine/views.js';
import { IdncError } from '../errors.js';

interface RequestSeries {
  readonly labels: Readonly<Record<string, string>>;
  count: number;
  sumSeconds: number;
  /** Observations per bucket (not cumulative); the last slot is above the highest bound. */
  readonly buckets: Float64Array;
}

interface ExportedValue {
  labels: Record<string, string | number>;
  value: number;
  metricName?: string;
}

const BOUNDS = METRICS_REQUEST_SECONDS_BUCKETS;
const METHODS = new Set(['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS']);
const ACTIONS = new Set(['add', 'remove', 'count', 'status']);
/** Small numbers for the closed label sets, so a route finds its series by one integer key. */
const METHOD_INDEX: Readonly<Record<string, number>> = { __proto__: null, GET: 1, POST: 2, PUT: 3, PATCH: 4, DELETE: 5, HEAD: 6, OPTIONS: 7 } as never;
const ACTION_INDEX: Readonly<Record<string, number>> = { __proto__: null, '': 0, add: 1, remove: 2, count: 3, status: 4, invalid: 5 } as never;

/** Counts and times the requests of one route: (method, action label, status code, seconds). */
export type RouteObserver = (method: string, action: string, statusCode: number, seconds: number) => void;

/** The pdnc actionType of a request as a closed label value ('' when the route has none). */
export function actionLabel(request: FastifyRequest): string {
  const fromBody = fieldOf(request.body, 'actionType');
  const value = fromBody !== undefined ? fromBody : fieldOf(request.query, 'actionType');
  if (value === undefined) return '';
  if (typeof value !== 'string') return 'invalid';
  const action = value.toLowerCase();
  return ACTIONS.has(action) ? action : 'invalid';
}

function fieldOf(fields: unknown, name: string): unknown {
  if (typeof fields !== 'object' || fields === null || Array.isArray(fields)) return undefined;
  return Object.hasOwn(fields, name) ? (fields as Record<string, unknown>)[name] : undefined;
}

function record(series: RequestSeries, seconds: number): void {
  series.count++;
  series.sumSeconds += seconds;
  let bucket = 0;
  while (bucket < BOUNDS.length && seconds > BOUNDS[bucket]!) bucket++;
  series.buckets[bucket]!++;
}

/**
 * What one scrape may see: `serverWide` (requests of every tenant, the log, fsyncs, follower lag)
 * only for a server operator; the lists of organisation `org` (null: every organisation), and of
 * those only `projects` when given (never the master list then, nor the organisation's totals).
 */
export interface MetricsView {
  readonly serverWide: boolean;
  readonly org: string | null;
  readonly projects?: readonly string[];
}

/** The operator's view (and the key-less local --metrics-port listener's): everything. */
export const EVERYTHING: MetricsView = { serverWide: true, org: null };

export interface MetricsOptions {
  /** Per-list series while a scrape may see at most this many lists (default METRICS_LIST_SERIES_MAX). */
  readonly listSeriesMax?: number;
}

/** What a scrape of `view` exports of the lists: counts per organisation, and each list while they are few. */
interface ListFigures {
  readonly organisations: readonly OrganisationStats[];
  readonly lists: number;
  /** null: more lists than the per-list series allow. */
  readonly perList: readonly ListStats[] | null;
}

export class IdncMetrics {
  /** Every series; a scrape with a tenant's key reads `listRegistry` alone. */
  readonly registry: Registry;
  private readonly serverRegistry = new Registry();
  private readonly listRegistry = new Registry();
  private readonly fsyncSeconds: Histogram;
  private readonly series = new Map<string, RequestSeries>();
  private dnc: Dnc | undefined;
  /** While a scrape collects: what it may see. */
  private view: MetricsView = EVERYTHING;
  /** The list figures of the scrape under way, read once for all its gauges. */
  private figures: ListFigures | null = null;
  private readonly listSeriesMax: number;

  constructor(options: MetricsOptions = {}) {
    this.listSeriesMax = options.listSeriesMax ?? METRICS_LIST_SERIES_MAX;
    this.registerRequestMetrics();
    this.fsyncSeconds = new Histogram({
      name: 'idnc_log_fsync_duration_seconds',
      help: 'Duration of each fdatasync of the change log',
      buckets: METRICS_FSYNC_SECONDS_BUCKETS,
      registers: [this.serverRegistry],
    });
    this.registerListGauges([this.listRegistry]);
    this.registerEngineGauges([this.serverRegistry]);
    this.registry = Registry.merge([this.serverRegistry, this.listRegistry]);
  }

  /** The engine whose figures are read at scrape time. */
  bindEngine(dnc: Dnc): void {
    this.dnc = dnc;
  }

  /** For `fsyncObserver` of openDnc. */
  readonly observeFsync = (seconds: number): void => {
    this.fsyncSeconds.observe(seconds);
  };

  observeRequest(route: string, method: string, action: string, statusCode: number, seconds: number): void {
    record(this.seriesOf(route, method, action, statusCode), seconds);
  }

  /**
   * The observer of one route: its series are found by an integer made of the method, action and
   * status (no label string is built per request); a new combination goes through seriesOf once.
   */
  routeObserver(route: string): RouteObserver {
    const own = new Map<number, RequestSeries>();
    return (method, action, statusCode, seconds) => {
      const actionIndex = ACTION_INDEX[action];
      if (actionIndex === undefined) {
        record(this.seriesOf(route, method, action, statusCode), seconds);
        return;
      }
      const key = statusCode * 64 + (METHOD_INDEX[method] ?? 0) * 8 + actionIndex;
      let series = own.get(key);
      if (series === undefined) {
        series = this.seriesOf(route, method, action, statusCode);
        own.set(key, series);
      }
      record(series, seconds);
    };
  }

  private seriesOf(route: string, method: string, action: string, statusCode: number): RequestSeries {
    const methodLabel = METHODS.has(method) ? method : 'other';
    const key = `${route} ${methodLabel} ${action} ${statusCode}`;
    let series = this.series.get(key);
    if (series === undefined) {
      const labels = { route, method: methodLabel, action, status_code: String(statusCode) };
      series = { labels, count: 0, sumSeconds: 0, buckets: new Float64Array(BOUNDS.length + 1) };
      this.series.set(key, series);
    }
    return series;
  }

  /** The request counter and histogram as prom-client metrics whose values are read at scrape time. */
  private registerRequestMetrics(): void {
    const all = () => [...this.series.values()];
    const counter = {
      name: 'idnc_http_requests_total',
      help: 'HTTP requests answered, by route, method, pdnc action and status code',
      type: 'counter',
      aggregator: 'sum',
      get: async () => ({ ...counter, values: all().map((s): ExportedValue => ({ labels: { ...s.labels }, value: s.count })) }),
    };
    const histogram = {
      name: 'idnc_http_request_duration_seconds',
      help: 'Time from request received to response sent',
      type: 'histogram',
      aggregator: 'sum',
      get: async () => {
        const values: ExportedValue[] = [];
        for (const s of all()) {
          let cumulative = 0;
          BOUNDS.forEach((bound, i) => {
            cumulative += s.buckets[i]!;
            values.push({ labels: { ...s.labels, le: bound }, value: cumulative, metricName: `${histogram.name}_bucket` });
          });
          values.push({ labels: { ...s.labels, le: '+Inf' }, value: s.count, metricName: `${histogram.name}_bucket` });
          values.push({ labels: { ...s.labels }, value: s.sumSeconds, metricName: `${histogram.name}_sum` });
          values.push({ labels: { ...s.labels }, value: s.count, metricName: `${histogram.name}_count` });
        }
        return { ...histogram, values };
      },
    };
    this.serverRegistry.registerMetric(counter as unknown as Metric);
    this.serverRegistry.registerMetric(histogram as unknown as Metric);
  }

  /**
   * The exposition text of what `view` may see: one tenant never sees another's list names or
   * sizes, nor the server-wide series that reveal other tenants' activity. Collectors run
   * synchronously when metrics() starts, so the filter cannot leak into a concurrent scrape.
   */
  text(view: MetricsView = EVERYTHING): Promise<string> {
    this.view = view;
    this.figures = null;
    try {
      return (view.serverWide ? this.registry : this.listRegistry).metrics();
    } finally {
      this.view = EVERYTHING;
      this.figures = null;
    }
  }

  private listFigures(): ListFigures {
    try {
      this.figures ??= this.readListFigures(this.view);
    } catch (error) {
      // A scrape racing the server's shutdown finds the engine closed: no lists, rather than a 500.
      if (!(error instanceof IdncError) || error.code !== 'CLOSED') throw error;
      this.figures = { organisations: [], lists: 0, perList: [] };
    }
    return this.figures;
  }

  private readListFigures(view: MetricsView): ListFigures {
    const dnc = this.dnc;
    if (dnc === undefined) return { organisations: [], lists: 0, perList: [] };
    if (view.projects !== undefined && view.org !== null) {
      const org = view.org;
      const perList = view.projects.map((projId) => ({ org, projId, numbers: dnc.count({ org, projId }) })).filter((list) => list.numbers > 0);
      return { organisations: [], lists: perList.length, perList: perList.length <= this.listSeriesMax ? perList : null };
    }
    const organisations = dnc.stats().organisations.filter((organisation) => view.org === null || organisation.org === view.org);
    const lists = organisations.reduce((sum, organisation) => sum + organisation.lists, 0);
    if (lists > this.listSeriesMax) return { organisations, lists, perList: null };
    const perList: ListStats[] = [];
    for (const { org } of organisations) {
      for (let after: string | undefined, more = true; more; ) {
        const page = dnc.lists({ org, limit: LISTS_PAGE_LIMIT_MAX, ...(after === undefined ? {} : { after }) });
        for (const list of page.lists) perList.push({ org, projId: list.projId, numbers: list.numbers });
        more = page.next !== null;
        after = page.next ?? undefined;
      }
    }
    return { organisations, lists, perList };
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  private registerListGauges(registers: Registry[]): void {
    const metrics = this;
    new Gauge({
      name: 'idnc_list_numbers',
      help: `Numbers on each list (project "" is the master list); only while this scrape may see at most ${this.listSeriesMax} lists, see idnc_organisation_numbers`,
      labelNames: ['org', 'project'],
      registers,
      collect() {
        this.reset();
        for (const list of metrics.listFigures().perList ?? []) this.set({ org: list.org, project: list.projId }, list.numbers);
      },
    });
    new Gauge({
      name: 'idnc_lists',
      help: 'Lists holding numbers (master and project lists) that this scrape may see',
      registers,
      collect() {
        this.set(metrics.listFigures().lists);
      },
    });
    const perOrganisation = (name: string, help: string, read: (organisation: OrganisationStats) => number): void => {
      new Gauge({
        name,
        help,
        labelNames: ['org'],
        registers,
        collect() {
          this.reset();
          for (const organisation of metrics.listFigures().organisations) this.set({ org: organisation.org }, read(organisation));
        },
      });
    };
    perOrganisation('idnc_organisation_lists', 'Lists holding numbers in each organisation (the master list included)', (organisation) => organisation.lists);
    perOrganisation('idnc_organisation_numbers', 'Numbers on all lists of each organisation', (organisation) => organisation.numbers);
  }

  private registerEngineGauges(registers: Registry[]): void {
    const metrics = this;
    const stats = () => metrics.dnc?.stats();
    const logGauge = (name: string, help: string, read: (log: NonNullable<ReturnType<Dnc['stats']>['log']>) => number | null): void => {
      new Gauge({
        name,
        help,
        registers,
        collect() {
          // Unknown (in-memory engine, no snapshot yet) is NaN: a label-less gauge cannot be absent.
          const log = stats()?.log;
          const value = log === null || log === undefined ? null : read(log);
          this.set(value ?? NaN);
        },
      });
    };
    new Gauge({
      name: 'idnc_follower_lag_seconds',
      help: 'Read-only follower: every change acknowledged longer ago than this is visible here (NaN on the writer)',
      registers,
      collect() {
        const follower = metrics.dnc?.stats().follower;
        this.set(follower === null || follower === undefined ? NaN : follower.lagMs / 1000);
      },
    });
    const replicationGauge = (name: string, help: string, read: (replication: NonNullable<ReturnType<Dnc['stats']>['replication']>) => number): void => {
      new Gauge({
        name,
        help,
        registers,
        collect() {
          const replication = stats()?.replication;
          this.set(replication === undefined ? NaN : read(replication));
        },
      });
    };
    replicationGauge('idnc_replication_ready', 'NATS JetStream replication: 1 while publishing (writer) or following (follower), else 0 (NaN without replication)', (replication) =>
      replication.state === 'ready' ? 1 : 0,
    );
    replicationGauge('idnc_replication_backlog', 'Changes acknowledged here and not yet in the stream (--replicate-ack local; NaN without replication)', (replication) => replication.backlog);
    logGauge('idnc_log_seq', 'Seq of the last durable change', (log) => log.seq);
    logGauge('idnc_log_records_since_snapshot', 'Log records written since the last snapshot', (log) => log.recordsSinceSnapshot);
    logGauge('idnc_log_bytes_since_snapshot', 'Log bytes written since the last snapshot (or since start)', (log) => log.bytesSinceSnapshot);
    logGauge('idnc_snapshot_age_seconds', 'Seconds since the last snapshot was written (or the loaded one was)', (log) =>
      log.lastSnapshotAtMs === null ? null : Math.max(0, (Date.now() - log.lastSnapshotAtMs) / 1000),
    );
    logGauge('idnc_snapshot_duration_seconds', 'Duration of the last snapshot written by this process', (log) =>
      log.lastSnapshotDurationMs === null ? null : log.lastSnapshotDurationMs / 1000,
    );
    logGauge('idnc_log_writable', '1 when the log accepts changes, 0 when storage failed or is unavailable', (log) =>
      log.writerState === 'open' ? 1 : 0,
    );
  }
}
