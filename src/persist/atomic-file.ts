// Writing a whole file so that a crash leaves either the old one or the new one, never a part: the
// bytes go to `<file>.tmp`, are flushed, and the temp file is renamed over the file, then the
// directory is flushed so the rename itself survives. Side files (history summaries, packs,
// carried adds) are written this way; a failure at any step throws, and the old file stays.

import path from 'node:path';
import type { PersistFileSystem } from './file-system.js';

export async function writeFileAtomically(fileSystem: PersistFileSystem, file: string, parts: readonly Buffer[]): Promise<void> {
  const temp = `${file}.tmp`;
  const fd = await fileSystem.open(temp, 'w');
  try {
    await fileSystem.writev(fd, parts, 0);
    await fileSystem.fdatasync(fd);
  } finally {
    await fileSystem.close(fd);
  }
  await fileSystem.rename(temp, file);
  await fileSystem.fsyncDirectory(path.dirname(file));
}
