// Snapshots in the JetStream object store bucket `<stream>_SNAPSHOTS`: the writer uploads each
// snapshot file it writes (as opaque bytes, streamed from the file), named after the seq it covers
// and with that seq in its metadata, and keeps the newest REPLICATION_SNAPSHOTS_KEPT; a follower on
// another host downloads the newest into a temp file and reads it with the log's own snapshot
// reader (src/persist/snapshot-read.ts), which checks it whole before anything is installed.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Objm, type ObjectStore } from '@nats-io/obj';
import { FILE_MODE_OWNER_ONLY, REPLICATION_SNAPSHOTS_KEPT } from '../constants.js';
import type { StreamLink } from './stream-link.js';
import { snapshotBucket } from './stream-records.js';

/** A snapshot object: the seq it covers and its name in the bucket. */
export interface SnapshotObject {
  readonly seq: number;
  readonly name: string;
}

function objectName(seq: number): string {
  return `snapshot-${seq}`;
}

export class SnapshotObjects {
  private constructor(private readonly store: ObjectStore) {}

  /** The bucket of `link`'s stream, created (with `replicas` copies) when `create` is set; null when missing. */
  static async open(link: StreamLink, replicas: number | null): Promise<SnapshotObjects | null> {
    const objm = new Objm(link.nc);
    const bucket = snapshotBucket(link.options.stream);
    if (replicas !== null) return new SnapshotObjects(await objm.create(bucket, { replicas, storage: 'file' as never }));
    try {
      return new SnapshotObjects(await objm.open(bucket));
    } catch {
      return null;
    }
  }

  /** The snapshots in the bucket, newest first. */
  async list(): Promise<SnapshotObject[]> {
    const objects = await this.store.list();
    const found: SnapshotObject[] = [];
    for (const info of objects) {
      const seq = Number(info.metadata?.seq);
      if (!info.deleted && Number.isSafeInteger(seq) && seq >= 0 && info.name === objectName(seq)) found.push({ seq, name: info.name });
    }
    return found.sort((a, b) => b.seq - a.seq);
  }

  /**
   * Uploads the snapshot file of `seq`, then removes all but the newest REPLICATION_SNAPSHOTS_KEPT;
   * returns the seq of the oldest one kept (the stream is needed only after it).
   */
  async upload(seq: number, file: string): Promise<number> {
    const data = Readable.toWeb(fs.createReadStream(file)) as ReadableStream<Uint8Array>;
    await this.store.put({ name: objectName(seq), metadata: { seq: String(seq) } }, data);
    const kept = await this.list();
    for (const old of kept.slice(REPLICATION_SNAPSHOTS_KEPT)) await this.store.delete(old.name);
    return kept[Math.min(kept.length, REPLICATION_SNAPSHOTS_KEPT) - 1]!.seq;
  }

  /** Downloads `object` into a new owner-only temp file and returns its path (the caller removes it). */
  async download(object: SnapshotObject): Promise<string> {
    const result = await this.store.get(object.name);
    if (result === null) throw new Error(`snapshot object ${object.name} is gone`);
    const dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'idnc-snapshot-'));
    const file = path.join(dir, `${object.name}.idncsnap`);
    await pipeline(Readable.fromWeb(result.data as never), fs.createWriteStream(file, { mode: FILE_MODE_OWNER_ONLY }));
    const failed = await result.error;
    if (failed !== null && failed !== undefined) {
      await removeDownload(file);
      throw new Error(`downloading ${object.name} failed: ${failed.message}`);
    }
    return file;
  }
}

/** Removes a file download() made, with its directory. */
export async function removeDownload(file: string): Promise<void> {
  await fs.promises.rm(path.dirname(file), { recursive: true, force: true });
}
