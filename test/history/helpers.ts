// Test helpers for the compliance history: every log record of a data directory, decoded, and a
// durable engine with an HTTP app around it (the history fields are stored only by a durable engine).

import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { buildApp } from '../../src/http/app.js';
import { KeyStore } from '../../src/keys/key-store.js';
import { listDataDir } from '../../src/persist/data-dir.js';
import type { LogRecord } from '../../src/persist/record.js';
import { readSegmentFile } from '../../src/persist/segment-read.js';
import { DurableDnc, openDnc } from '../../src/open.js';
import { makeKey, type TestKey } from '../http/helpers.js';

/** Every valid record of every segment of `dataDir`, in seq order. */
export async function logRecords(dataDir: string): Promise<LogRecord[]> {
  const records: LogRecord[] = [];
  const { segments } = await listDataDir(dataDir);
  for (const [i, segment] of segments.entries()) {
    await readSegmentFile(segment, { isLast: i === segments.length - 1, onRecord: (record) => records.push(record) });
  }
  return records;
}

export interface DurableTestApp {
  readonly app: FastifyInstance;
  readonly dnc: DurableDnc;
  readonly admin: TestKey;
  readonly logLines: string[];
  close(): Promise<void>;
}

/** A durable engine on `dataDir` behind the HTTP app, with an admin key of `default` and `extraKeys`. */
export async function makeDurableApp(dataDir: string, extraKeys: TestKey[] = []): Promise<DurableTestApp> {
  const dnc = await openDnc({ dataDir, logger: { info: () => undefined, warn: () => undefined, error: () => undefined } });
  const admin = makeKey('default', ['admin', 'operator']);
  const keys = new KeyStore([admin.record, ...extraKeys.map((key) => key.record)]);
  const logLines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      logLines.push(...chunk.toString('utf8').split('\n').filter((line) => line !== ''));
      done();
    },
  });
  const app = buildApp({ dnc, keys, logger: pino({ level: 'info' }, sink) });
  return {
    app,
    dnc,
    admin,
    logLines,
    close: async () => {
      await app.close();
      await dnc.close();
    },
  };
}
