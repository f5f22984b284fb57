// A digest of a whole DncStore: SHA-256 over every non-empty list (organisation, project, then each
// area code with its sorted 7-digit rests). It hashes values, not Roaring serialisations or a list's
// layout (sorted array or probe table), because the layout of equal sets can differ with their
// history. Empty lists are skipped, so a list emptied by removes and a list never created compare
// equal.

import { createHash } from 'node:crypto';
import type { DncStore } from '../store/dnc-store.js';

export function stateDigest(store: DncStore): string {
  const hash = createHash('sha256');
  for (const [address, set] of store.lists()) {
    if (set.size === 0) continue;
    hash.update(`list\0${address.org}\0${address.projId}\0${set.size}\0`);
    for (const [areaCode, rests] of set.areaRests()) {
      hash.update(`${areaCode}\0`);
      hash.update(new Uint8Array(rests.buffer, rests.byteOffset, rests.byteLength));
    }
  }
  return hash.digest('hex');
}
