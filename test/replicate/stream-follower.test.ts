// A follower on "another host" (openDnc with `follow`: nothing shared with the writer but NATS):
// it starts from the newest snapshot in the object store and the stream after it, follows live
// writes (waitFor, read-your-writes), refuses changes, and keeps its digest equal to the writer's
// at the same seq across a NATS node killed and restarted and NATS down entirely.

import { describe, expect, test, vi } from 'vitest';
import { connect } from '@nats-io/transport-node';
import { Objm } from '@nats-io/obj';
import { jetstreamManager } from '@nats-io/jetstream';
import { openDnc, type DncFollower, type DurableDnc } from '../../src/index.js';
import { numbers, recordingLogger, type RecordingLogger } from '../persist/helpers.js';
import { natsAvailable } from './nats-cluster.js';
import { natsSuite } from './nats-suite.js';
import { replicating } from './stream-reader.js';

describe.skipIf(!natsAvailable())('follower of a stream', () => {
  const nats = natsSuite({ streamPrefix: 'F', dirPrefixes: { data: 'idnc-stream-follower-' } });

  async function writer(): Promise<DurableDnc> {
    const dnc = await openDnc({ dataDir: nats.dirs.data, logger: recordingLogger(), replicate: { servers: nats.cluster.servers, stream: nats.stream } });
    nats.closeAfter(dnc);
    await replicating(dnc);
    return dnc;
  }

  async function follower(logger: RecordingLogger = recordingLogger()): Promise<DncFollower> {
    const dnc = await openDnc({ follow: { servers: nats.cluster.servers, stream: nats.stream }, logger, staleAfterMs: 2000 });
    nats.closeAfter(dnc);
    return dnc;
  }

  async function snapshotObjects(): Promise<string[]> {
    const nc = await connect({ servers: nats.cluster.servers.split(',') });
    try {
      const store = await new Objm(nc).open(`${nats.stream}_SNAPSHOTS`);
      return (await store.list()).map((info) => info.name);
    } finally {
      await nc.close();
    }
  }

  test('starts from the newest snapshot object and the stream after it; its digest equals the writer\'s', async () => {
    const dnc = await writer();
    await dnc.add(numbers(500));
    await dnc.add(numbers(20, 3_125_550_000), { projId: 'spring' });
    await dnc.snapshot();
    await vi.waitFor(async () => expect(await snapshotObjects()).toEqual(['snapshot-2']), { timeout: 10_000 });
    await dnc.remove(numbers(10));
    await dnc.add(numbers(5, 4_155_550_000), { org: 'acme' });
    const logger = recordingLogger();
    const replica = await follower(logger);
    expect(logger.text('info')).toMatch(/loaded snapshot object snapshot-2 \(seq 2\)/);
    await replica.waitFor(dnc.lastSeq, 10_000);
    expect(replica.lastSeq).toBe(4);
    expect(replica.digest()).toBe(dnc.digest());
    expect(replica.count({ projId: 'spring' })).toBe(20);
    await vi.waitFor(() => expect(replica.stale).toBe(false), { timeout: 10_000 });
    expect(replica.lagMs).toBeLessThan(2000);
  });

  test('the writer trims the stream below its oldest snapshot object kept; a follower behind the trim reloads from a newer snapshot', async () => {
    const dnc = await writer();
    for (let i = 0; i < 3; i++) await dnc.add(numbers(1, 2_125_550_000 + i));
    await dnc.snapshot();
    await vi.waitFor(async () => expect(await snapshotObjects()).toEqual(['snapshot-3']), { timeout: 10_000 });
    for (let i = 3; i < 6; i++) await dnc.add(numbers(1, 2_125_550_000 + i));
    // The stream loses seq 4-5 (as a trim would) while the newest snapshot object is still seq 3:
    // a new follower loads it, finds seq 4 gone, and waits for a newer snapshot without stepping back.
    const nc = await connect({ servers: nats.cluster.servers.split(',') });
    await (await jetstreamManager(nc)).streams.purge(nats.stream, { seq: 6 });
    await nc.close();
    const logger = recordingLogger();
    const replica = await follower(logger);
    await vi.waitFor(() => expect(logger.text('warn')).toMatch(/continues at seq 6, not at seq 4/), { timeout: 10_000 });
    expect(replica.lastSeq).toBe(3);
    expect(replica.stale).toBe(true);
    await dnc.snapshot();
    await vi.waitFor(async () => expect(await snapshotObjects()).toEqual(['snapshot-3', 'snapshot-6']), { timeout: 10_000 });
    await replica.waitFor(6, 10_000);
    expect(replica.digest()).toBe(dnc.digest());
    for (let i = 6; i < 8; i++) await dnc.add(numbers(1, 2_125_550_000 + i));
    await replica.waitFor(8, 10_000);
    expect(replica.digest()).toBe(dnc.digest());
    // A third snapshot: two objects are kept (seq 6 and 8), and the stream only after the older one.
    await dnc.snapshot();
    await vi.waitFor(async () => expect(await snapshotObjects()).toEqual(['snapshot-6', 'snapshot-8']), { timeout: 10_000 });
    const check = await connect({ servers: nats.cluster.servers.split(',') });
    const jsm = await jetstreamManager(check);
    await vi.waitFor(async () => expect((await jsm.streams.info(nats.stream)).state).toMatchObject({ first_seq: 7, last_seq: 8 }), { timeout: 10_000 });
    await check.close();
  }, 60_000);

  test('replication switched on for a data directory that has a log: the stream starts at its snapshot, and a follower gets the same state', async () => {
    const plain = await openDnc({ dataDir: nats.dirs.data, logger: recordingLogger() });
    for (let i = 0; i < 5; i++) await plain.add(numbers(2, 2_125_550_000 + i * 10));
    await plain.snapshot();
    await plain.remove(numbers(1, 2_125_550_000));
    await plain.close();
    const dnc = await writer();
    expect(dnc.lastSeq).toBe(6);
    const nc = await connect({ servers: nats.cluster.servers.split(',') });
    try {
      expect((await (await jetstreamManager(nc)).streams.info(nats.stream)).state).toMatchObject({ first_seq: 7, last_seq: 6 });
    } finally {
      await nc.close();
    }
    const { seq } = await dnc.add(numbers(1, 3_125_550_000));
    expect(seq).toBe(7);
    const replica = await follower();
    await replica.waitFor(7, 10_000);
    expect(replica.digest()).toBe(dnc.digest());
  });

  test('follows live writes (read-your-writes with waitFor) and refuses changes with READ_ONLY_REPLICA', async () => {
    const dnc = await writer();
    const replica = await follower();
    for (let i = 0; i < 20; i++) {
      const { seq } = await dnc.add(numbers(1, 2_125_550_000 + i));
      await replica.waitFor(seq, 5000);
      expect(replica.isBlocked(String(2_125_550_000 + i))).toBe(true);
    }
    await expect(replica.add(numbers(1))).rejects.toMatchObject({ code: 'READ_ONLY_REPLICA' });
    expect(replica.stats().replication).toMatchObject({ stream: nats.stream, ack: null });
  });

  test('keeps following across a NATS node killed and restarted, and NATS down entirely', async () => {
    const dnc = await writer();
    const replica = await follower();
    await dnc.add(numbers(10));
    await nats.cluster.killNode(0);
    await vi.waitFor(() => dnc.add(numbers(10, 3_125_550_000)), { timeout: 20_000, interval: 200 });
    await nats.cluster.startNode(0);
    await replica.waitFor(dnc.lastSeq, 20_000);
    expect(replica.digest()).toBe(dnc.digest());
    await nats.cluster.killAll();
    await nats.cluster.startAll();
    await replicating(dnc);
    const { seq } = await vi.waitFor(() => dnc.add(numbers(10, 4_125_550_000)), { timeout: 20_000, interval: 200 });
    await replica.waitFor(seq, 20_000);
    expect(replica.digest()).toBe(dnc.digest());
  }, 90_000);
});
