// A writer replicating to a real 3-node JetStream cluster (openDnc with `replicate`): under ack
// quorum every acknowledged change is in the stream at its own seq, as the exact bytes of its log
// record; with NATS down changes are refused before anything is written and reads go on; NATS
// killed in the middle of concurrent writes never leaves a refused change visible, here or after a
// restart, and never loses an acknowledged one; a writer fenced by another writer's record and
// caught up with it writes again without being fenced for nothing. Under ack local writes go on
// while NATS is down and the backlog reaches the stream when it is back; a backlog record that
// fails its checksum stops publishing there (said once), never skipped.

import fs from 'node:fs';
import { Kvm } from '@nats-io/kv';
import { describe, expect, test, vi } from 'vitest';
import { IdncError, openDnc, type DurableDnc } from '../../src/index.js';
import type { ReplicateOptions } from '../../src/engine/types.js';
import { listDataDir } from '../../src/persist/data-dir.js';
import { StreamLink, type RunOutcome } from '../../src/replicate/stream-link.js';
import { recordMessageId } from '../../src/replicate/stream-records.js';
import { leaseBucket, WriterLease } from '../../src/replicate/writer-lease.js';
import { FaultyFileSystem, makeTempDir, numbers, recordingLogger, removeDir } from '../persist/helpers.js';
import { natsAvailable } from './nats-cluster.js';
import { natsSuite } from './nats-suite.js';
import { logFrames, replicating, streamMessages } from './stream-reader.js';

/** A short duplicates window for the stream of a test that outlives it. */
const DUPLICATE_WINDOW_MS = 1_000;

describe.skipIf(!natsAvailable())('replicated writer', () => {
  const nats = natsSuite({ streamPrefix: 'T', dirPrefixes: { data: 'idnc-replicated-' } });

  async function writer(replicate: Partial<ReplicateOptions> = {}, fileSystem?: FaultyFileSystem): Promise<DurableDnc> {
    const seam = fileSystem === undefined ? {} : { fileSystem, storageProbeIntervalMs: 20 };
    const dnc = await openDnc({ dataDir: nats.dirs.data, logger: recordingLogger(), replicate: { servers: nats.cluster.servers, stream: nats.stream, ...replicate }, ...seam });
    nats.closeAfter(dnc);
    return dnc;
  }

  async function expectStreamEqualsLog(dnc: DurableDnc): Promise<void> {
    const messages = await streamMessages(nats.cluster.servers, nats.stream);
    const frames = await logFrames(nats.dirs.data, 1, dnc.lastSeq);
    expect(messages.size).toBe(dnc.lastSeq);
    expect(frames.length).toBe(dnc.lastSeq);
    for (const frame of frames) expect(messages.get(frame.readUInt32LE(8))?.equals(frame)).toBe(true);
  }

  test('quorum: each acknowledged change is in the stream at its seq, as the bytes of its log record', async () => {
    const dnc = await writer();
    await replicating(dnc);
    const results = await Promise.all([dnc.add(numbers(3)), dnc.add(numbers(2, 3_125_550_000), { projId: 'p' }), dnc.remove(numbers(1))]);
    expect(results.map((result) => result.seq).sort()).toEqual([1, 2, 3]);
    await dnc.dropList({ projId: 'p' });
    expect(dnc.stats().replication).toMatchObject({ stream: nats.stream, ack: 'quorum', state: 'ready', streamSeq: 4, backlog: 0 });
    await expectStreamEqualsLog(dnc);
  });

  test.each(['quorum', 'local'] as const)('%s: a change keeps the history fields its client gave (source, reason, requestedAt)', async (ack) => {
    const dnc = await writer({ ack });
    await replicating(dnc);
    const requestedAt = Date.now() - 60_000;
    await dnc.add('5039367187', { source: 'ivr', reason: 'pressed 9 in the IVR menu', requestedAt });
    const { events } = await dnc.history('5039367187');
    expect(events).toMatchObject([{ op: 'add', source: 'ivr', reason: 'pressed 9 in the IVR menu', requestedAt: new Date(requestedAt).toISOString() }]);
    await expectStreamEqualsLog(dnc);
  });

  test('quorum: 8 concurrent writers on a healthy cluster all get their changes acknowledged', async () => {
    const dnc = await writer();
    await replicating(dnc);
    const loop = async (index: number): Promise<void> => {
      for (let n = 0; n < 60; n++) await dnc.add([String(2_000_000_000 + index * 1_000_000 + 2_125_000 + n)]);
    };
    await Promise.all(Array.from({ length: 8 }, (_, index) => loop(index)));
    expect(dnc.count()).toBe(480);
    await expectStreamEqualsLog(dnc);
  });

  test('quorum: with NATS down changes are refused and not applied, reads go on, a close ends, a start works, and writes resume when it is back', async () => {
    const dnc = await writer();
    await replicating(dnc);
    await dnc.add(numbers(2));
    await nats.cluster.killAll();
    await vi.waitFor(() => expect(dnc.stats().replication?.state).toBe('connecting'), { timeout: 10_000, interval: 20 });
    const refused = await dnc.add(numbers(1, 4_155_550_000)).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(IdncError);
    expect((refused as IdncError).code).toBe('REPLICATION_UNAVAILABLE');
    expect((refused as IdncError).message).toMatch(/was not stored/);
    expect(dnc.count()).toBe(2);
    expect(dnc.isBlocked('4155550000')).toBe(false);
    expect(dnc.lastSeq).toBe(1);
    // The close does not wait for NATS.
    const pending = dnc.add(numbers(1, 5_155_550_000)).catch((error: unknown) => error);
    await dnc.close();
    expect(await pending).toMatchObject({ code: 'REPLICATION_UNAVAILABLE' });
    // A writer starting while NATS is down opens, answers reads, and refuses changes until it is back.
    const reopened = await writer();
    expect(reopened.count()).toBe(2);
    await expect(reopened.add(numbers(1, 7_155_550_000))).rejects.toMatchObject({ code: 'REPLICATION_UNAVAILABLE', message: expect.stringMatching(/was not stored/) });
    await nats.cluster.startAll();
    await replicating(reopened);
    expect(reopened.isBlocked('4155550000')).toBe(false);
    expect((await reopened.add(numbers(1, 6_155_550_000))).seq).toBe(reopened.lastSeq);
    await expectStreamEqualsLog(reopened);
  }, 60_000);

  test('quorum: NATS killed during 8 concurrent writers: no refused change visible, no acknowledged one lost, here or after a restart', async () => {
    const dnc = await writer();
    await replicating(dnc);
    const outcomes = new Map<string, 'ok' | 'not stored' | 'unknown'>();
    let stop = false;
    let acknowledged = 0;
    let killed: Promise<void> | null = null;
    const loop = async (index: number): Promise<void> => {
      for (let n = 0; !stop; n++) {
        const phone = String(2_000_000_000 + index * 1_000_000 + 2_125_000 + n);
        try {
          await dnc.add([phone]);
          outcomes.set(phone, 'ok');
          if (++acknowledged === 200) killed = nats.cluster.killAll();
        } catch (error) {
          expect((error as IdncError).code).toBe('REPLICATION_UNAVAILABLE');
          outcomes.set(phone, /was not stored/.test((error as Error).message) ? 'not stored' : 'unknown');
          if ([...outcomes.values()].filter((outcome) => outcome === 'not stored').length >= 20) stop = true;
        }
      }
    };
    await Promise.all(Array.from({ length: 8 }, (_, index) => loop(index)));
    await killed;
    const check = (engine: DurableDnc): void => {
      for (const [phone, outcome] of outcomes) {
        if (outcome === 'ok') expect(engine.isBlocked(phone), `acknowledged ${phone}`).toBe(true);
        if (outcome === 'not stored') expect(engine.isBlocked(phone), `refused ${phone}`).toBe(false);
      }
    };
    check(dnc);
    await nats.cluster.startAll();
    await replicating(dnc);
    await expectStreamEqualsLog(dnc);
    check(dnc);
    const digest = dnc.digest();
    await dnc.close();
    const reopened = await writer();
    check(reopened);
    expect(reopened.digest()).toBe(digest);
  }, 90_000);

  test('quorum: a local write failing after the stream took the change: "may or may not", then caught up from the stream', async () => {
    const disk = new FaultyFileSystem();
    const dnc = await writer({}, disk);
    await replicating(dnc);
    await dnc.add(numbers(1));
    disk.failWrites = 'ENOSPC';
    const failed = await dnc.add(numbers(1, 3_125_550_000)).catch((error: unknown) => error);
    expect((failed as IdncError).code).toBe('STORAGE_UNAVAILABLE');
    expect((failed as IdncError).message).toMatch(/may or may not be stored: the stream took it/);
    expect(dnc.isBlocked('3125550000')).toBe(false);
    disk.failWrites = null;
    // The next change first brings the log up to the stream (the stream's seq 2), then is its seq 3.
    const next = await vi.waitFor(() => dnc.add(numbers(1, 4_125_550_000)), { timeout: 10_000, interval: 50 });
    expect(next.seq).toBe(3);
    expect(dnc.isBlocked('3125550000')).toBe(true);
    await expectStreamEqualsLog(dnc);
  }, 60_000);

  test('quorum: a writer that stopped after the stream took a change catches up from the stream when it restarts', async () => {
    const disk = new FaultyFileSystem();
    const dnc = await writer({}, disk);
    await replicating(dnc);
    await dnc.add(numbers(1));
    disk.failFdatasync = 'EIO';
    await expect(dnc.add(numbers(1, 3_125_550_000))).rejects.toMatchObject({ code: 'STORAGE_UNAVAILABLE' });
    expect(dnc.isBlocked('3125550000')).toBe(false);
    await dnc.close();
    const reopened = await writer();
    await replicating(reopened);
    expect(reopened.lastSeq).toBe(2);
    expect(reopened.isBlocked('3125550000')).toBe(true);
    await expectStreamEqualsLog(reopened);
  }, 60_000);

  test('quorum: a second writer stands by (NOT_LEADER) and follows the stream; on an empty directory past a trim it stops, saying why', async () => {
    const dnc = await writer();
    await replicating(dnc);
    await dnc.add(numbers(1));
    const standbyDir = await makeTempDir('idnc-standby-');
    try {
      const standby = await openDnc({ dataDir: standbyDir, logger: recordingLogger(), replicate: { servers: nats.cluster.servers, stream: nats.stream, standby: true } });
      nats.closeAfter(standby);
      await vi.waitFor(() => expect(standby.stats().replication?.state).toBe('standby'), { timeout: 10_000 });
      await expect(standby.add(numbers(1, 3_125_550_000))).rejects.toMatchObject({ code: 'NOT_LEADER' });
      await dnc.add(numbers(1, 4_125_550_000));
      await vi.waitFor(() => expect(standby.lastSeq).toBe(2), { timeout: 10_000 });
      expect(standby.digest()).toBe(dnc.digest());
      await standby.close();
      // Three snapshots: the stream is trimmed below the older of the two kept (seq 3).
      for (let i = 0; i < 3; i++) {
        await dnc.add(numbers(1, 5_125_550_000 + i));
        await dnc.snapshot();
      }
      await removeDir(standbyDir);
      await fs.promises.mkdir(standbyDir);
      const fresh = await openDnc({ dataDir: standbyDir, logger: recordingLogger(), replicate: { servers: nats.cluster.servers, stream: nats.stream } });
      nats.closeAfter(fresh);
      await vi.waitFor(() => expect(fresh.stats().replication).toMatchObject({ state: 'diverged', reason: expect.stringMatching(/no longer holds seq 1 .*copy of the writer's data directory/) }), { timeout: 10_000 });
    } finally {
      await removeDir(standbyDir);
    }
  }, 60_000);

  // A writer fenced by another writer's record stands by, catches up with that record from the
  // stream, and writes again (here it still holds the lease: the other writer appended without it).
  // Its first publish after that must not be chained to its own record the stream refused.
  test("quorum: a writer fenced by another writer's record, caught up with it from the stream, takes its next change", async () => {
    const dnc = await writer();
    await replicating(dnc);
    await dnc.add(numbers(1));
    const otherDir = await makeTempDir('idnc-other-writer-');
    try {
      const other = await openDnc({ dataDir: otherDir, logger: recordingLogger() });
      await other.add(numbers(1, 3_125_550_000));
      await other.add(numbers(1, 4_125_550_000));
      await other.close();
      const [foreign] = await logFrames(otherDir, 2, 2);
      const link = await StreamLink.open({ servers: nats.cluster.servers.split(','), stream: nats.stream, name: 'other writer' }, () => undefined);
      try {
        await link.js.publish(link.subject, foreign!, { msgID: recordMessageId(foreign!), expect: { lastSequence: 1 } });
      } finally {
        await link.close();
      }
      await expect(dnc.add(numbers(1, 5_125_550_000))).rejects.toMatchObject({ code: 'REPLICATION_UNAVAILABLE' });
      await vi.waitFor(() => expect([dnc.lastSeq, dnc.stats().replication?.state]).toEqual([2, 'ready']), { timeout: 10_000, interval: 20 });
      expect((await dnc.add(numbers(1, 6_125_550_000))).seq).toBe(3);
      expect([dnc.isBlocked('4125550000'), dnc.isBlocked('5125550000'), dnc.isBlocked('6125550000')]).toEqual([true, false, true]);
      await expectStreamEqualsLog(dnc);
    } finally {
      await removeDir(otherDir);
    }
  }, 30_000);

  // Two updates with the same revision would refuse one another on a server that checks it
  // strictly (nats-server 2.9 lets both through while both are in flight): the updates are counted.
  test('writer lease: one holder at a time; renewals asked for while one is in flight join it (one update)', async () => {
    const links = await Promise.all(['first', 'second'].map((name) => StreamLink.open({ servers: nats.cluster.servers.split(','), stream: nats.stream, name }, () => undefined)));
    try {
      const [first, second] = await Promise.all(links.map((link, index) => WriterLease.open(link, 3, 3000, { holder: `holder ${index}`, url: null })));
      expect(await first!.acquire()).toBe(true);
      expect(await second!.acquire()).toBe(false);
      const kv = await new Kvm(links[0]!.nc).open(leaseBucket(nats.stream));
      const before = (await kv.get('writer'))!.revision;
      expect(await Promise.all([first!.renew(), first!.renew(), first!.renew()])).toEqual([true, true, true]);
      expect((await kv.get('writer'))!.revision).toBe(before + 1);
      expect(first!.held).toBe(true);
      expect(await second!.acquire()).toBe(false);
    } finally {
      for (const link of links) await link.close();
    }
  });

  // Pipelined publishes each expect the last sequence before them: once another writer's record
  // stands at seq 3, our seq 3 is refused, but our seq 4 would find its expected last sequence (3)
  // true. Nothing of a run may be stored past the first record the stream refused.
  test("writer link: a run meeting another writer's record at its first seq stores none of its records, and is fenced", async () => {
    const link = await StreamLink.open({ servers: nats.cluster.servers.split(','), stream: nats.stream, name: 'fenced writer' }, () => undefined);
    try {
      await link.ensureStream(3);
      expect(await link.publishRun([headerFrame(1, 0xa1), headerFrame(2, 0xa2)])).toEqual({ kind: 'published' });
      await link.js.publish(link.subject, headerFrame(3, 0xb3), { msgID: '3-b3', expect: { lastSequence: 2 } });
      const outcome = await link.publishRun([headerFrame(3, 0xa3), headerFrame(4, 0xa4), headerFrame(5, 0xa5)]);
      expect(outcome).toMatchObject({ kind: 'stopped', taken: 0, fenced: true });
      // Sent after the run on the same connection, so the stream decides it after every record of
      // the run: its refusal arrives once the records after seq 3 were taken or refused.
      await expect(link.js.publish(link.subject, headerFrame(9, 0xc9), { expect: { lastSequence: 8 } })).rejects.toThrow(/wrong last sequence/);
      expect(await link.lastSeq()).toBe(3);
      expect((await streamMessages(nats.cluster.servers, nats.stream)).get(3)).toEqual(headerFrame(3, 0xb3));
    } finally {
      await link.close();
    }
  });

  test("writer link: a run sent while the run before it is unanswered is refused with it when another writer's record took that run's last seq", async () => {
    const link = await StreamLink.open({ servers: nats.cluster.servers.split(','), stream: nats.stream, name: 'overlapping writer' }, () => undefined);
    try {
      await link.ensureStream(3);
      expect(await link.publishRun([headerFrame(1, 0xa1), headerFrame(2, 0xa2)])).toEqual({ kind: 'published' });
      await link.js.publish(link.subject, headerFrame(3, 0xb3), { msgID: '3-b3', expect: { lastSequence: 2 } });
      const first = link.publishRun([headerFrame(3, 0xa3)]);
      const second = link.publishRun([headerFrame(4, 0xa4), headerFrame(5, 0xa5)]);
      expect(await first).toMatchObject({ kind: 'stopped', taken: 0, fenced: true });
      expect(await second).toMatchObject({ kind: 'stopped', taken: 0, fenced: true });
      expect(await link.lastSeq()).toBe(3);
    } finally {
      await link.close();
    }
  });

  // The stream remembers its last message id in memory; restarted, it rebuilds it from the messages
  // of its duplicates window alone, so a chain to a record older than that would be refused.
  test('writer link: the first run after NATS restarted, its last record older than the duplicates window, is taken (no fencing for nothing)', async () => {
    const link = await StreamLink.open({ servers: nats.cluster.servers.split(','), stream: nats.stream, name: 'quiet writer' }, () => undefined);
    try {
      await link.jsm.streams.add({ name: nats.stream, subjects: [link.subject], num_replicas: 3, storage: 'file' as never, duplicate_window: DUPLICATE_WINDOW_MS * 1_000_000 });
      expect(await link.publishRun([headerFrame(1, 0xa1), headerFrame(2, 0xa2)])).toEqual({ kind: 'published' });
      // Past the window on purpose: the time is the condition tested, not an event awaited.
      await new Promise((resolve) => setTimeout(resolve, DUPLICATE_WINDOW_MS + 500));
      await nats.cluster.killAll();
      await nats.cluster.startAll();
      // The stream decides publishes again once it refuses one that expects a sequence it never had
      // (no message id, so its remembered one is left as the restart made it).
      await vi.waitFor(() => expect(link.js.publish(link.subject, headerFrame(9, 0xc9), { expect: { lastSequence: 8 } })).rejects.toThrow(/wrong last sequence/), { timeout: 30_000, interval: 100 });
      const run = [headerFrame(3, 0xa3), headerFrame(4, 0xa4), headerFrame(5, 0xa5)];
      const outcomes: RunOutcome[] = [];
      await vi.waitFor(async () => {
        outcomes.push(await link.publishRun(run));
        expect(outcomes.at(-1)).toEqual({ kind: 'published' });
      }, { timeout: 30_000, interval: 100 });
      expect(outcomes.filter((outcome) => outcome.kind === 'stopped' && (outcome.fenced || /last msg id/i.test(outcome.reason)))).toEqual([]);
      expect(await link.lastSeq()).toBe(5);
    } finally {
      await link.close();
    }
  }, 60_000);

  test('local: writes go on while NATS is down, and the backlog is published when it is back', async () => {
    const dnc = await writer({ ack: 'local' });
    await replicating(dnc);
    await dnc.add(numbers(1));
    await nats.cluster.killAll();
    for (let i = 0; i < 5; i++) await dnc.add(numbers(1, 3_125_550_000 + i));
    expect(dnc.lastSeq).toBe(6);
    expect(dnc.stats().replication?.backlog).toBeGreaterThanOrEqual(5);
    await nats.cluster.startAll();
    await replicating(dnc);
    await vi.waitFor(() => expect(dnc.stats().replication?.backlog).toBe(0), { timeout: 20_000 });
    await expectStreamEqualsLog(dnc);
  }, 60_000);

  test('ack local: a record of the backlog failing its checksum stops publishing, said once, nothing after it published', async () => {
    const fileSystem = new FaultyFileSystem();
    const logger = recordingLogger();
    const dnc = await openDnc({ dataDir: nats.dirs.data, logger, fileSystem, replicate: { servers: nats.cluster.servers, stream: nats.stream, ack: 'local' } });
    nats.closeAfter(dnc);
    await replicating(dnc);
    await dnc.add(numbers(1));
    await vi.waitFor(() => expect(dnc.stats().replication?.streamSeq).toBe(1), { timeout: 10_000 });
    // Seq 2 is written and held before its flush (so before it can be published); one byte of it turns.
    let release!: () => void;
    fileSystem.fdatasyncGate = new Promise((resolve) => (release = resolve));
    const added = dnc.add(numbers(1, 3_125_550_000));
    try {
      await fileSystem.fdatasyncStarted(fileSystem.fdatasyncCalls + 1);
      const [frame] = await logFrames(nats.dirs.data, 2, 2);
      const segment = (await listDataDir(nats.dirs.data)).segments.at(-1)!.path;
      const at = (await fs.promises.readFile(segment)).indexOf(frame!) + frame!.length - 1;
      const handle = await fs.promises.open(segment, 'r+');
      await handle.write(Buffer.from([frame![frame!.length - 1]! ^ 0xff]), 0, 1, at);
      await handle.close();
    } finally {
      fileSystem.fdatasyncGate = null;
      release();
    }
    expect((await added).seq).toBe(2);
    await vi.waitFor(() => expect(dnc.stats().replication?.state).toBe('diverged'), { timeout: 10_000 });
    expect(dnc.stats().replication?.reason).toMatch(/seq 2 .*checksum/);
    expect(logger.lines.filter((line) => line.level !== 'info' && /seq 2/.test(line.message))).toHaveLength(1);
    // Changes go on here (ack local); the stream keeps seq 1 alone: nothing skipped, nothing out of order.
    expect((await dnc.add(numbers(1, 4_125_550_000))).seq).toBe(3);
    expect(dnc.stats().replication).toMatchObject({ state: 'diverged', streamSeq: 1, backlog: 2 });
    expect([...(await streamMessages(nats.cluster.servers, nats.stream)).keys()]).toEqual([1]);
  }, 30_000);
});

/** A record's header alone (length 0, `crc`, `seq`): what the link reads to publish it (seq, message id). */
function headerFrame(seq: number, crc: number): Buffer {
  const frame = Buffer.alloc(16);
  frame.writeUInt32LE(crc, 4);
  frame.writeUInt32LE(seq, 8);
  return frame;
}
