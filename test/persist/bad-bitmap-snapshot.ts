// A snapshot that loads but whose first change fails to apply: one bitmap container holds one more
// bit than it declares, under a valid whole-file checksum (the checksum proves the bytes are the
// ones written, not that they were a valid bitmap). Tests use it to make a durable change fail to
// apply to memory, as a bad snapshot base or an allocation failure would.

import fs from 'node:fs';
import { crc32 } from 'node:zlib';
import { snapshotPath } from '../../src/persist/data-dir.js';
import { nodeFileSystem } from '../../src/persist/file-system.js';
import { FOOTER_BYTES, captureStore, writeSnapshot } from '../../src/persist/snapshot.js';
import { DncStore } from '../../src/store/dnc-store.js';

export const BAD_AREA_CODE = 212;
export const BAD_LIST = { org: 'default', projId: 'spring' } as const;
/** The portable header of one container without runs: cookie, count, one description, one offset. */
const ONE_CONTAINER_HEADER_BYTES = 16;
/** A rest that is not in the list (the list holds the even rests below 10,000). */
const UNDECLARED_REST = 10_001;

/** Writes snapshot seq 1 into `dataDir`: BAD_LIST holds 5,000 numbers of BAD_AREA_CODE in a bad bitmap. */
export async function writeBadBitmapSnapshot(dataDir: string): Promise<void> {
  const store = new DncStore();
  const list = store.listForWrite(BAD_LIST);
  list.addSorted(Float64Array.from({ length: 5000 }, (_, i) => BAD_AREA_CODE * 1e7 + 2 * i));
  const portable = Buffer.from(list.area(BAD_AREA_CODE)!.portable());
  const file = snapshotPath(dataDir, 1);
  const captured = captureStore(store);
  await writeSnapshot(nodeFileSystem, dataDir, file, 1, captured);
  captured.release();
  const bytes = fs.readFileSync(file);
  const at = bytes.indexOf(portable);
  if (at <= 0 || bytes.indexOf(portable, at + 1) !== -1) throw new Error('the bitmap is not found once in the snapshot');
  const data = at + ONE_CONTAINER_HEADER_BYTES;
  bytes[data + (UNDECLARED_REST >>> 3)]! |= 1 << (UNDECLARED_REST & 7);
  bytes.writeUInt32LE(crc32(bytes.subarray(0, bytes.length - FOOTER_BYTES)), bytes.length - FOOTER_BYTES);
  fs.writeFileSync(file, bytes);
}
