// The replication settings of `idnc serve`: flags over IDNC_* variables, defaults left to the
// library, and the combinations and values that must refuse to start.

import os from 'node:os';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadServeConfig } from '../../src/cli/config.js';

const SERVERS = 'nats://10.0.0.1:4222,nats://10.0.0.2:4222';
/** The URL a writer advertises by default: --host and --port's defaults. */
const DEFAULT_URL = 'http://127.0.0.1:3000';

describe('replication settings', () => {
  it('are absent without --replicate or --follow', () => {
    const config = loadServeConfig({}, {});
    expect(config.replicate).toBeUndefined();
    expect(config.follow).toBeUndefined();
  });

  it('take --replicate* flags over the IDNC_REPLICATE* variables', () => {
    const env = { IDNC_REPLICATE: 'nats://other:4222', IDNC_REPLICATE_ACK: 'quorum', IDNC_REPLICATE_STREAM: 'ENV' };
    expect(loadServeConfig({ replicate: SERVERS, replicateAck: 'local', replicateReplicas: '5' }, env).replicate).toEqual({ servers: SERVERS, stream: 'ENV', replicas: 5, ack: 'local', advertiseUrl: DEFAULT_URL });
    expect(loadServeConfig({}, env).replicate).toEqual({ servers: 'nats://other:4222', stream: 'ENV', ack: 'quorum', advertiseUrl: DEFAULT_URL });
  });

  it('take --standby (IDNC_STANDBY=1) and --lease-ms (IDNC_LEASE_MS) with --replicate', () => {
    expect(loadServeConfig({ replicate: SERVERS, standby: true, leaseMs: '2s' }, {}).replicate).toEqual({ servers: SERVERS, standby: true, leaseMs: 2000, advertiseUrl: DEFAULT_URL });
    expect(loadServeConfig({ replicate: SERVERS }, { IDNC_STANDBY: '1', IDNC_LEASE_MS: '500ms' }).replicate).toEqual({ servers: SERVERS, standby: true, leaseMs: 500, advertiseUrl: DEFAULT_URL });
  });

  it('take --advertise-url (IDNC_ADVERTISE_URL), else http://HOST:PORT (this host\'s name on every address, none with --port 0)', () => {
    const url = (flags: object, env: Record<string, string> = {}): string | undefined => loadServeConfig({ replicate: SERVERS, ...flags }, env).replicate?.advertiseUrl;
    expect(url({ advertiseUrl: 'https://dnc1.example:8443/' }, { IDNC_ADVERTISE_URL: 'http://env:1' })).toBe('https://dnc1.example:8443');
    expect(url({}, { IDNC_ADVERTISE_URL: 'http://env:1' })).toBe('http://env:1');
    expect(url({ host: '10.1.2.3', port: '8080' })).toBe('http://10.1.2.3:8080');
    expect(url({ host: '0.0.0.0' })).toBe(`http://${os.hostname()}:3000`);
    expect(url({ host: '::1' })).toBe('http://[::1]:3000');
    expect(url({ port: '0' })).toBeUndefined();
  });

  it('take --follow (IDNC_FOLLOW) with the stream of --replicate-stream', () => {
    expect(loadServeConfig({ follow: SERVERS, replicateStream: 'DNC_EU' }, {}).follow).toEqual({ servers: SERVERS, stream: 'DNC_EU' });
    expect(loadServeConfig({}, { IDNC_FOLLOW: SERVERS }).follow).toEqual({ servers: SERVERS });
  });

  it.each([
    [{ replicate: SERVERS, follow: SERVERS }, /exclude each other/],
    [{ replicate: SERVERS, replicateAck: 'all' }, /--replicate-ack "all": expected quorum or local/],
    [{ replicate: SERVERS, replicateReplicas: '0' }, /--replicate-replicas/],
    [{ replicate: SERVERS, replicateStream: 'a.b' }, /--replicate-stream "a.b"/],
    [{ replicate: 'nats://a b:4222' }, /--replicate "nats:\/\/a b:4222": expected NATS URLs/],
    [{ follow: ',' }, /--follow ",": expected NATS URLs/],
    [{ standby: true }, /--standby and --lease-ms need --replicate/],
    [{ replicate: SERVERS, standby: true, replicateAck: 'local' }, /--standby needs --replicate-ack quorum/],
    [{ replicate: SERVERS, leaseMs: 'soon' }, /--lease-ms \(IDNC_LEASE_MS\) "soon"/],
    [{ replicate: SERVERS, advertiseUrl: 'dnc1:3000' }, /--advertise-url \(IDNC_ADVERTISE_URL\) "dnc1:3000": expected the URL/],
    [{ replicate: SERVERS, advertiseUrl: 'ftp://dnc1:3000' }, /--advertise-url/],
  ])('refuse %j', (flags, message) => {
    expect(() => loadServeConfig(flags, {})).toThrow(ConfigError);
    expect(() => loadServeConfig(flags, {})).toThrow(message);
  });
});
