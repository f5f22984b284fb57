// Makes node:fs's promise API complete synchronously for the length of a simulator run. The
// engine's read paths (recovery, snapshot reads, the follower's log tail, data-directory listing)
// and a few write-path helpers (a snapshot's stat, a listing before old files are removed) use
// node:fs directly, not the file-system seam; on the thread pool their completions would land
// between the simulated disk's calls at moments that depend on timing, and a seed would not replay
// exactly. Done synchronously, every interleaving depends only on the order of microtasks and
// setImmediate callbacks, which the seed decides. The files read are still the real ones: they are
// the simulated page cache. Installed for one run and then removed, because node:fs is shared by
// everything in the process.

import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';

type AnyFunction = (...args: unknown[]) => unknown;

function settle<T>(work: () => T): Promise<T> {
  try {
    return Promise.resolve(work());
  } catch (error) {
    return Promise.reject(error);
  }
}

/** The part of fs.promises.FileHandle the engine uses, done with the synchronous calls. */
class SynchronousFileHandle {
  constructor(readonly fd: number) {}

  read(
    target: NodeJS.ArrayBufferView | { buffer: NodeJS.ArrayBufferView; offset?: number; length?: number; position?: number | null },
    offset?: number,
    length?: number,
    position?: number | null,
  ): Promise<{ bytesRead: number; buffer: NodeJS.ArrayBufferView }> {
    const options = ArrayBuffer.isView(target) ? { buffer: target, offset, length, position } : target;
    const buffer = options.buffer;
    const at = options.offset ?? 0;
    const count = options.length ?? buffer.byteLength - at;
    return settle(() => ({ bytesRead: fs.readSync(this.fd, buffer, at, count, options.position ?? null), buffer }));
  }

  stat(options?: fs.StatOptions): Promise<fs.Stats | fs.BigIntStats> {
    return settle(() => fs.fstatSync(this.fd, options));
  }

  readFile(options?: { encoding?: BufferEncoding | null } | BufferEncoding | null): Promise<string | Buffer> {
    return settle(() => fs.readFileSync(this.fd, options));
  }

  write(buffer: NodeJS.ArrayBufferView, offset?: number, length?: number, position?: number | null): Promise<{ bytesWritten: number; buffer: NodeJS.ArrayBufferView }> {
    return settle(() => ({ bytesWritten: fs.writeSync(this.fd, buffer, offset, length, position), buffer }));
  }

  truncate(length?: number): Promise<void> {
    return settle(() => fs.ftruncateSync(this.fd, length));
  }

  sync(): Promise<void> {
    return settle(() => fs.fsyncSync(this.fd));
  }

  datasync(): Promise<void> {
    return settle(() => fs.fdatasyncSync(this.fd));
  }

  close(): Promise<void> {
    return settle(() => fs.closeSync(this.fd));
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** Replaces every fs.promises function that has a synchronous twin; returns the undo. */
export function installSynchronousFsPromises(): () => void {
  const promises = fs.promises as unknown as Record<string, unknown>;
  const syncs = fs as unknown as Record<string, unknown>;
  const saved = new Map<string, unknown>();
  for (const name of Object.keys(promises)) {
    const sync = syncs[`${name}Sync`];
    if (name === 'constants' || typeof promises[name] !== 'function' || typeof sync !== 'function') continue;
    saved.set(name, promises[name]);
    if (name === 'open') {
      promises[name] = (...args: unknown[]) => settle(() => new SynchronousFileHandle((sync as AnyFunction)(...args) as number));
    } else promises[name] = (...args: unknown[]) => settle(() => (sync as AnyFunction)(...args));
  }
  syncBuiltinESMExports();
  return () => {
    for (const [name, original] of saved) promises[name] = original;
    syncBuiltinESMExports();
  };
}
