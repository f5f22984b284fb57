// Test helpers for the HTTP API: an in-memory engine, a key store holding keys made for the test,
// and the app built around them (optionally with its log captured), driven by app.inject().

import { Writable } from 'node:stream';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { pino } from 'pino';
import { openDnc, type Dnc } from '../../src/open.js';
import { buildApp, type AppOptions, type HttpLimits } from '../../src/http/app.js';
import { generateKey } from '../../src/keys/key-format.js';
import type { KeyRecord, Scope } from '../../src/keys/key-records.js';
import { KeyStore } from '../../src/keys/key-store.js';

export const PDNC = '/app/main/rpc/pdnc';

export interface TestKey {
  readonly key: string;
  readonly record: KeyRecord;
}

export function makeKey(org: string, scopes: Scope[], projects?: string[]): TestKey {
  const generated = generateKey();
  const record: KeyRecord = {
    id: generated.id,
    name: null,
    org,
    scopes,
    ...(projects === undefined ? {} : { projects }),
    createdAt: new Date().toISOString(),
    revokedAt: null,
    hash: generated.hash,
  };
  return { key: generated.key, record };
}

export interface TestApp {
  readonly app: FastifyInstance;
  readonly dnc: Dnc;
  readonly keys: KeyStore;
  /** Admin key of organisation `default`, also the server's operator (as the first key of idnc serve). */
  readonly admin: string;
  /** Everything the app logged, one JSON line each. */
  readonly logLines: string[];
  /** GET /app/main/rpc/pdnc with these query fields and the key (admin unless given). */
  get(query: Record<string, string>, key?: string | null): Promise<LightMyRequestResponse>;
  /** Form-encoded POST. */
  postForm(body: Record<string, string>, key?: string | null, query?: Record<string, string>): Promise<LightMyRequestResponse>;
  postJson(body: unknown, key?: string | null): Promise<LightMyRequestResponse>;
  close(): Promise<void>;
}

export async function makeTestApp(
  options: { limits?: Partial<HttpLimits>; extraKeys?: TestKey[]; app?: Partial<Omit<AppOptions, 'dnc' | 'keys' | 'logger' | 'limits'>> } = {},
): Promise<TestApp> {
  const dnc = await openDnc();
  const admin = makeKey('default', ['admin', 'operator']);
  const keys = new KeyStore([admin.record, ...(options.extraKeys ?? []).map((k) => k.record)]);
  const logLines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logLines.push(...chunk.toString('utf8').split('\n').filter((line) => line !== ''));
      done();
    },
  });
  const logger = pino({ level: 'info' }, sink);
  const app = buildApp({ dnc, keys, logger, ...options.app, ...(options.limits === undefined ? {} : { limits: options.limits }) });
  const headersFor = (key: string | null | undefined): Record<string, string> =>
    key === null ? {} : { loginId: key ?? admin.key };
  return {
    app,
    dnc,
    keys,
    admin: admin.key,
    logLines,
    get: (query, key) => app.inject({ method: 'GET', url: PDNC, query, headers: headersFor(key) }),
    postForm: (body, key, query) =>
      app.inject({
        method: 'POST',
        url: PDNC,
        ...(query === undefined ? {} : { query }),
        headers: { ...headersFor(key), 'content-type': 'application/x-www-form-urlencoded' },
        payload: new URLSearchParams(body).toString(),
      }),
    postJson: (body, key) =>
      app.inject({ method: 'POST', url: PDNC, headers: { ...headersFor(key), 'content-type': 'application/json' }, payload: JSON.stringify(body) }),
    close: async () => {
      await app.close();
      await dnc.close();
    },
  };
}
