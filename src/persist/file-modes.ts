// Which files of a data directory other users can read. Every file idnc creates is owner-only and
// the directory it creates is 0700, but a directory made by hand, a copy restored from a backup or a
// file written by an older version can be open to others: `idnc verify` names them.

import fs from 'node:fs';
import path from 'node:path';

/** Permission bits that let the group or others read, write or enter. */
const GROUP_OTHER_BITS = 0o077;

export interface ExposedFile {
  readonly path: string;
  /** The permission bits, e.g. 0o644. */
  readonly mode: number;
}

/** The data directory itself and each file directly in it or in its history/ whose mode lets others in, sorted by name. */
export async function exposedFiles(dataDir: string): Promise<ExposedFile[]> {
  const exposed: ExposedFile[] = [];
  const check = async (file: string, follow: boolean): Promise<void> => {
    const stat = await (follow ? fs.promises.stat(file) : fs.promises.lstat(file)).catch(() => null);
    if (stat !== null && !stat.isSymbolicLink() && (stat.mode & GROUP_OTHER_BITS) !== 0) exposed.push({ path: file, mode: stat.mode & 0o777 });
  };
  // The directory itself is followed when it is a link (a common layout); links inside it are not ours.
  await check(dataDir, true);
  const names = (await fs.promises.readdir(dataDir)).sort();
  for (const name of names) await check(path.join(dataDir, name), false);
  // history/ (src/history/archive.ts) keeps the compacted log: the same personal data.
  const history = path.join(dataDir, 'history');
  for (const name of (await fs.promises.readdir(history).catch(() => [] as string[])).sort()) await check(path.join(history, name), false);
  return exposed;
}
