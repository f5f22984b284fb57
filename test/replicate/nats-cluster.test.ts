// The test cluster itself: three real nats-server processes that form a JetStream cluster, survive
// the loss and restart of one node, and are all gone once stopped (the other replication tests rely
// on each of these).

import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { NatsCluster, natsAvailable, stopAllNats } from './nats-cluster.js';

describe.skipIf(!natsAvailable())('NatsCluster', () => {
  let cluster: NatsCluster;
  let nc: NatsConnection;

  beforeAll(async () => {
    cluster = await NatsCluster.start();
    nc = await connect({ servers: cluster.servers.split(',') });
  }, 30_000);

  afterAll(async () => {
    await nc?.close();
    await cluster?.stop();
    await stopAllNats();
  });

  test('runs an R3 file stream that keeps taking publishes while one node is down and after it restarts', async () => {
    const jsm = await jetstreamManager(nc);
    const info = await jsm.streams.add({ name: 'HELPER', subjects: ['HELPER.log'], num_replicas: 3 });
    expect(info.config.num_replicas).toBe(3);
    const js = jetstream(nc);
    expect((await js.publish('HELPER.log', new Uint8Array([1]))).seq).toBe(1);
    await cluster.killNode(2);
    expect(cluster.nodes[2]!.running).toBe(false);
    // The client may have been connected to the node killed: it reconnects, and a stream whose
    // leader was there elects another, so a publish is retried (its msgID makes a retry idempotent).
    const retried = (id: string) => ({ msgID: id, timeout: 1000, retries: 20 });
    expect((await js.publish('HELPER.log', new Uint8Array([2]), retried('2'))).seq).toBe(2);
    await cluster.startNode(2);
    expect((await js.publish('HELPER.log', new Uint8Array([3]), retried('3'))).seq).toBe(3);
    expect((await jsm.streams.info('HELPER')).state.messages).toBe(3);
  });

  test('stop() leaves no server running', async () => {
    const other = await NatsCluster.start();
    const nodes = [...other.nodes];
    await other.stop();
    expect(nodes.every((node) => node !== null && !node.running)).toBe(true);
  });
});
