// Test helpers that read a stream back: every message from seq 1 (or from `fromSeq`) with its
// payload, to compare with the writer's own log files byte for byte.

import { connect } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { vi } from 'vitest';
import type { DurableDnc } from '../../src/index.js';
import { LogFrames } from '../../src/replicate/log-frames.js';

export async function streamMessages(servers: string, stream: string, fromSeq = 1): Promise<Map<number, Buffer>> {
  const nc = await connect({ servers: servers.split(',') });
  try {
    const jsm = await jetstreamManager(nc);
    const { last_seq: lastSeq } = (await jsm.streams.info(stream)).state;
    const messages = new Map<number, Buffer>();
    if (lastSeq < fromSeq) return messages;
    const consumer = await jetstream(nc).consumers.get(stream, { opt_start_seq: fromSeq });
    const delivered = await consumer.consume();
    for await (const message of delivered) {
      messages.set(message.seq, Buffer.from(message.data));
      if (message.seq >= lastSeq) break;
    }
    delivered.stop();
    return messages;
  } finally {
    await nc.close();
  }
}

/** The records of a data directory's log from `fromSeq` to `toSeq`, as the log stores them. */
export async function logFrames(dataDir: string, fromSeq: number, toSeq: number): Promise<Buffer[]> {
  const frames: Buffer[] = [];
  const reader = new LogFrames(dataDir);
  while (fromSeq + frames.length <= toSeq) {
    const read = await reader.read(fromSeq + frames.length, toSeq, 4096);
    if (read === null || read.length === 0) break;
    frames.push(...read);
  }
  return frames;
}

/** Resolves once a replicated writer publishes (its replication state is 'ready'). */
export async function replicating(dnc: DurableDnc, timeout = 20_000): Promise<void> {
  await vi.waitFor(() => {
    if (dnc.stats().replication?.state !== 'ready') throw new Error(`replication is ${JSON.stringify(dnc.stats().replication)}`);
  }, { timeout, interval: 20 });
}
