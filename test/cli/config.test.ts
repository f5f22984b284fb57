// Settings of `idnc serve`: defaults <- environment <- flags, validated once, frozen.

import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadServeConfig, parseBytes, parseDuration } from '../../src/cli/config.js';

describe('serve configuration', () => {
  it('has the documented defaults', () => {
    const config = loadServeConfig({}, {});
    expect(config).toEqual({
      host: '127.0.0.1',
      port: 3000,
      dataDir: resolve('snapshots'),
      fsync: 'always',
      snapshotIntervalMs: 5 * 60 * 1000,
      snapshotLogBytes: 64 * 1024 * 1024,
      requestNumbersMax: 100_000,
      scrubNumbersMax: 10_000_000,
      connections: {
        headersTimeoutMs: 10_000,
        requestTimeoutMs: 60_000,
        keepAliveTimeoutMs: 65_000,
        socketIdleTimeoutMs: 120_000,
        connectionsMax: 4096,
        requestsPerSocketMax: 10_000,
      },
      bodyBytesMax: undefined,
      metricsPort: null,
      metricsListSeriesMax: 1000,
      accessLog: false,
      statusFastPath: true,
      followerPolling: {},
    });
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('takes the follower workers\' polling from IDNC_FOLLOWER_POLL_MS and IDNC_FOLLOWER_WATCH, refusing bad values', () => {
    expect(loadServeConfig({}, { IDNC_FOLLOWER_POLL_MS: '150', IDNC_FOLLOWER_WATCH: '0' }).followerPolling).toEqual({ pollIntervalMs: 150, watch: false });
    expect(loadServeConfig({}, { IDNC_FOLLOWER_POLL_MS: '', IDNC_FOLLOWER_WATCH: '1' }).followerPolling).toEqual({});
    for (const poll of ['0', '-5', 'soon', '1.5']) {
      expect(() => loadServeConfig({}, { IDNC_FOLLOWER_POLL_MS: poll })).toThrow(/IDNC_FOLLOWER_POLL_MS/);
    }
    expect(() => loadServeConfig({}, { IDNC_FOLLOWER_WATCH: 'maybe' })).toThrow(/IDNC_FOLLOWER_WATCH/);
  });

  it('takes the environment, and flags over it', () => {
    const env = { IDNC_HOST: '0.0.0.0', IDNC_PORT: '8080', IDNC_DATA_DIR: 'env-data' };
    expect(loadServeConfig({}, env)).toMatchObject({ host: '0.0.0.0', port: 8080, dataDir: resolve('env-data') });
    const flags = { host: '::1', port: '0', dataDir: 'flag-data', fsync: 'interval', snapshotInterval: '30s', snapshotLogBytes: '8MiB', maxNumbers: '500' };
    expect(loadServeConfig(flags, env)).toMatchObject({
      host: '::1',
      port: 0,
      dataDir: resolve('flag-data'),
      fsync: 'interval',
      snapshotIntervalMs: 30_000,
      snapshotLogBytes: 8 * 1024 * 1024,
      requestNumbersMax: 500,
    });
  });

  it('--metrics-max-lists or IDNC_METRICS_MAX_LISTS sets the per-list series bound (flag wins); a bad value is refused', () => {
    expect(loadServeConfig({}, { IDNC_METRICS_MAX_LISTS: '50' }).metricsListSeriesMax).toBe(50);
    expect(loadServeConfig({ metricsMaxLists: '7' }, { IDNC_METRICS_MAX_LISTS: '50' }).metricsListSeriesMax).toBe(7);
    for (const bad of ['0', 'many', '-1', '2.5']) {
      expect(() => loadServeConfig({ metricsMaxLists: bad }, {})).toThrow(/--metrics-max-lists \(IDNC_METRICS_MAX_LISTS\)/);
      expect(() => loadServeConfig({}, { IDNC_METRICS_MAX_LISTS: bad })).toThrow(ConfigError);
    }
  });

  it('--access-log or IDNC_ACCESS_LOG turns the access log on; a bad IDNC_ACCESS_LOG is refused', () => {
    expect(loadServeConfig({ accessLog: true }, {}).accessLog).toBe(true);
    for (const on of ['1', 'true', 'YES']) expect(loadServeConfig({}, { IDNC_ACCESS_LOG: on }).accessLog).toBe(true);
    for (const off of ['', '0', 'false', 'no']) expect(loadServeConfig({}, { IDNC_ACCESS_LOG: off }).accessLog).toBe(false);
    expect(() => loadServeConfig({}, { IDNC_ACCESS_LOG: 'maybe' })).toThrow(/IDNC_ACCESS_LOG "maybe"/);
  });

  it('the status fast path is on unless --no-status-fast-path or IDNC_STATUS_FAST_PATH=0; a bad value is refused', () => {
    expect(loadServeConfig({}, {}).statusFastPath).toBe(true);
    expect(loadServeConfig({ statusFastPath: false }, {}).statusFastPath).toBe(false);
    expect(loadServeConfig({ statusFastPath: false }, { IDNC_STATUS_FAST_PATH: '1' }).statusFastPath).toBe(false);
    for (const on of ['', ' ', '1', 'true']) expect(loadServeConfig({}, { IDNC_STATUS_FAST_PATH: on }).statusFastPath).toBe(true);
    for (const off of ['0', 'false', 'NO']) expect(loadServeConfig({}, { IDNC_STATUS_FAST_PATH: off }).statusFastPath).toBe(false);
    expect(() => loadServeConfig({}, { IDNC_STATUS_FAST_PATH: 'sometimes' })).toThrow(/IDNC_STATUS_FAST_PATH "sometimes"/);
  });

  it('refuses bad values naming the setting', () => {
    expect(() => loadServeConfig({ port: '70000' }, {})).toThrow(/port "70000"/);
    expect(() => loadServeConfig({}, { IDNC_PORT: 'http' })).toThrow(ConfigError);
    expect(() => loadServeConfig({ fsync: 'sometimes' }, {})).toThrow(/--fsync "sometimes"/);
    expect(() => loadServeConfig({ snapshotInterval: '5' }, {})).toThrow(/--snapshot-interval/);
    expect(() => loadServeConfig({ snapshotLogBytes: '-1' }, {})).toThrow(/--snapshot-log-bytes/);
    expect(() => loadServeConfig({ maxNumbers: '0' }, {})).toThrow(/--max-numbers/);
    expect(() => loadServeConfig({ host: '' }, {})).toThrow(/--host/);
  });

  it('parses durations and sizes with units', () => {
    expect(parseDuration('x', '500ms')).toBe(500);
    expect(parseDuration('x', '5m')).toBe(300_000);
    expect(parseDuration('x', '1h')).toBe(3_600_000);
    expect(() => parseDuration('x', '0s')).toThrow(ConfigError);
    expect(parseBytes('x', '67108864')).toBe(67_108_864);
    expect(parseBytes('x', '64MiB')).toBe(67_108_864);
    expect(parseBytes('x', '1MB')).toBe(1_000_000);
    expect(parseBytes('x', '512kib')).toBe(524_288);
    expect(() => parseBytes('x', '12 parsecs')).toThrow(ConfigError);
  });
});

describe('--history-retention', () => {
  it('takes years, days or hours (env IDNC_HISTORY_RETENTION too); absent leaves the library default', () => {
    expect(loadServeConfig({ historyRetention: '5y' }, {}).historyRetentionMs).toBe(5 * 365.25 * 86_400_000);
    expect(loadServeConfig({ historyRetention: '30d' }, {}).historyRetentionMs).toBe(30 * 86_400_000);
    expect(loadServeConfig({}, { IDNC_HISTORY_RETENTION: '12h' }).historyRetentionMs).toBe(12 * 3_600_000);
    expect(loadServeConfig({}, {}).historyRetentionMs).toBeUndefined();
  });

  it.each(['forever', '0d', '-1y', '5 years', '1.5y'])('refuses %j', (text) => {
    expect(() => loadServeConfig({ historyRetention: text }, {})).toThrow(/--history-retention/);
  });
});
