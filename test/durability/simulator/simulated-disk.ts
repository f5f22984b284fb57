// A simulated disk under the engine's file-system seam, for the deterministic fault simulator. The
// real files of a temporary directory are the page cache: what every reader sees, as on a real
// machine (the engine's read paths use node:fs directly and keep doing so). Beside them this keeps
// what a real disk would guarantee: per file, the bytes made durable by its last successful
// fdatasync/fsync, and for the data directory, the entries made durable by its last fsync. Every
// call does its work synchronously and returns a settled promise, so the order of concurrent engine
// operations depends only on the order of microtasks, which the seed decides.
//
// What it can do to the engine, all drawn from the run's seed:
//   faults       EIO/ENOSPC from the Nth call of a kind (a write may leave part of itself behind;
//                after a failed flush the kernel may have dropped the pages: they are of unknown
//                fate, and even a later successful flush may not carry them)
//   crashes      at the Nth call: that call and every later one of the dead process never return
//                (a killed process runs no more code, not even its failure paths); its lock goes
//   power loss   every file rewritten from its durable bytes plus, page by page, any state the page
//                cache held since its last flush (pages reach the medium in any order, a page can be
//                torn at a sector, a size change may or may not be kept); the directory gets its
//                durable entries plus a prefix of the later creates/renames/unlinks (metadata is
//                journalled in order)
//   bit flips    in synced bytes, on the medium and in the page cache alike

import fs from 'node:fs';
import path from 'node:path';
import { WRITER_LOCK_FILE } from '../../../src/persist/data-dir.js';
import type { FileLock } from '../../../src/persist/file-lock.js';
import type { PersistFileSystem } from '../../../src/persist/file-system.js';
import type { Dice } from '../random.js';

/** Writeback unit: pages reach the medium in any order. */
export const PAGE_BYTES = 4096;
/** Atomic unit of the medium: a torn page keeps a prefix of its sectors. */
export const SECTOR_BYTES = 512;
/** Page-cache states remembered per file since its last flush (older ones are forgotten). */
const VERSIONS_KEPT = 8;
const DATA_FILE_PATTERN = /^(log-\d{16}\.idnclog|snapshot-\d{16}\.idncsnap)$/;

export type CallKind = 'open' | 'writev' | 'fdatasync' | 'fsync' | 'ftruncate' | 'close' | 'rename' | 'unlink' | 'fsyncDirectory' | 'lock';
export type FaultKind = Exclude<CallKind, 'close' | 'lock'>;
export const FAULT_KINDS: readonly FaultKind[] = ['open', 'writev', 'fdatasync', 'fsync', 'ftruncate', 'rename', 'unlink', 'fsyncDirectory'];
export type CrashKind = 'process' | 'power';

export interface ArmedFault {
  readonly kind: FaultKind;
  /** The fault hits the countdown-th call of its kind from now. */
  countdown: number;
  readonly code: 'EIO' | 'ENOSPC';
}

export interface BitFlip {
  readonly name: string;
  readonly fileId: number;
  readonly offset: number;
  readonly bit: number;
  /** The byte after the flip. */
  readonly value: number;
}

interface SimFile {
  readonly id: number;
  /** The page cache: the real file's content, kept here too so no call has to read it back. */
  cached: Buffer;
  /**
   * The memory `cached` is a view of, with room to append in place: views taken earlier (durable
   * bytes, versions) are shorter prefixes and stay valid. A truncation or overwrite copies.
   */
  store: Buffer;
  /** What is on the medium for sure: the content at the last successful flush. */
  durable: Buffer;
  /** States the page cache held since that flush, oldest first: any may be what reached the medium. */
  versions: Buffer[];
  /** Pages whose flush failed, with their content before it: a later flush may not carry them. */
  doubtful: Map<number, Buffer>;
}

type DirectoryChange =
  | { readonly kind: 'create'; readonly name: string; readonly id: number }
  | { readonly kind: 'rename'; readonly from: string; readonly to: string }
  | { readonly kind: 'unlink'; readonly name: string };

interface OpenFile {
  readonly process: SimulatedProcess;
  /** null: a file outside the data directory, not modelled. */
  readonly id: number | null;
}

/**
 * What a dead process's call returns: a promise that never settles, a new one each time, so that
 * nothing holds on to the dead process's frozen continuations and they are collected.
 */
function never<T>(): Promise<T> {
  return new Promise<T>(() => undefined);
}

function errnoError(code: string, call: string, target: string): NodeJS.ErrnoException {
  const error = new Error(`${code}: simulated ${code === 'EIO' ? 'i/o error' : 'full disk'}, ${call} '${target}'`) as NodeJS.ErrnoException;
  error.code = code;
  return error;
}

/** Bytes [start, end) of `bytes`, with `fill` where `bytes` is shorter. */
function slice(bytes: Buffer, start: number, end: number, fill: Buffer | null): Buffer {
  const out = Buffer.alloc(end - start);
  if (fill !== null) fill.copy(out, 0, Math.min(start, fill.length), Math.min(end, fill.length));
  bytes.copy(out, 0, Math.min(start, bytes.length), Math.min(end, bytes.length));
  return out;
}

/** One process's view of the disk (a writer): everything it opened and the locks it holds die with it. */
export class SimulatedProcess implements PersistFileSystem {
  dead = false;
  readonly died: Promise<void>;
  private markDied!: () => void;

  constructor(private readonly disk: SimulatedDisk, readonly name: string) {
    this.died = new Promise<void>((resolve) => (this.markDied = resolve));
  }

  /** Called by the disk when this process is killed. */
  die(): void {
    this.dead = true;
    this.markDied();
  }

  open(file: string, flags: string): Promise<number> {
    return this.disk.call(this, 'open', path.basename(file), () => this.disk.open(this, file, flags));
  }

  writev(fd: number, buffers: readonly Buffer[], position: number): Promise<void> {
    return this.disk.call(this, 'writev', this.disk.nameOf(fd), () => this.disk.writev(fd, Buffer.concat(buffers), position), {
      fault: () => this.disk.writePart(fd, Buffer.concat(buffers), position, 'any'),
      crash: () => this.disk.writePart(fd, Buffer.concat(buffers), position, 'pages'),
    });
  }

  fdatasync(fd: number): Promise<void> {
    return this.disk.call(this, 'fdatasync', this.disk.nameOf(fd), () => this.disk.flush(fd), { fault: () => this.disk.flushFailed(fd) });
  }

  fsync(fd: number): Promise<void> {
    return this.disk.call(this, 'fsync', this.disk.nameOf(fd), () => this.disk.flush(fd), { fault: () => this.disk.flushFailed(fd) });
  }

  ftruncate(fd: number, length: number): Promise<void> {
    return this.disk.call(this, 'ftruncate', this.disk.nameOf(fd), () => this.disk.ftruncate(fd, length));
  }

  close(fd: number): Promise<void> {
    return this.disk.call(this, 'close', this.disk.nameOf(fd), () => this.disk.close(fd));
  }

  rename(from: string, to: string): Promise<void> {
    return this.disk.call(this, 'rename', path.basename(to), () => this.disk.rename(from, to));
  }

  unlink(file: string): Promise<void> {
    return this.disk.call(this, 'unlink', path.basename(file), () => this.disk.unlink(file));
  }

  fsyncDirectory(directory: string): Promise<void> {
    return this.disk.call(this, 'fsyncDirectory', directory === this.disk.dataDir ? '.' : '..', () => this.disk.fsyncDirectory(directory));
  }

  tryLockExclusive(file: string): Promise<FileLock | null> {
    return this.disk.call(this, 'lock', path.basename(file), () => this.disk.lock(this, file));
  }
}

export interface DiskOptions {
  /** Sabotage for the simulator's own test: a flush that reports success and keeps nothing. */
  readonly lyingFlush?: boolean;
}

export class SimulatedDisk {
  /**
   * Runs before each call of a live process (null: none); a promise delays the call until it
   * settles, so the run can let a follower read or other tasks run at that exact point.
   */
  beforeCall: ((kind: CallKind) => Promise<void> | null) | null = null;
  /** Receives one line per call (the full trace of `--seed --calls`). */
  onCall: ((line: string) => void) | null = null;
  /** Receives one line per injected fault, crash and bit flip. */
  onEvent: ((line: string) => void) | null = null;
  calls = 0;
  /** A rolling hash of every call: two runs of one seed must end with the same value. */
  traceHash = 0x811c9dc5;
  faults: ArmedFault[] = [];
  crash: { countdown: number; kind: CrashKind } | null = null;
  /** How the last process died at an armed crash (the run reads it when `died` resolves). */
  lastCrash: CrashKind | null = null;
  faultsFired = 0;

  private files = new Map<number, SimFile>();
  private nextId = 1;
  /** Names in the data directory as this disk last saw them (validated by inode: others bypass it). */
  private live = new Map<string, { id: number; ino: number }>();
  private durableEntries = new Map<string, number>();
  private changes: DirectoryChange[] = [];
  private fds = new Map<number, OpenFile>();
  private locks = new Map<string, SimulatedProcess>();
  private processes: SimulatedProcess[] = [];

  constructor(readonly dataDir: string, private readonly dice: Dice, private readonly options: DiskOptions = {}) {
    this.adoptAll();
  }

  newProcess(name: string): SimulatedProcess {
    const process = new SimulatedProcess(this, name);
    this.processes.push(process);
    return process;
  }

  /** Kills a process now (kill -9): its page-cache writes stay, its descriptors and locks go. */
  kill(process: SimulatedProcess): void {
    if (process.dead) return;
    for (const [file, holder] of this.locks) if (holder === process) this.locks.delete(file);
    for (const [fd, open] of this.fds) {
      if (open.process !== process) continue;
      fs.closeSync(fd);
      this.fds.delete(fd);
    }
    this.processes = this.processes.filter((other) => other !== process);
    process.die();
  }

  /** The gate every call of a live process goes through: hook, crash, fault, then the work. */
  call<T>(process: SimulatedProcess, kind: CallKind, target: string, work: () => T, effects: { fault?: () => void; crash?: () => void } = {}): Promise<T> {
    if (process.dead) return never();
    const gate = this.beforeCall?.(kind) ?? null;
    if (gate === null) return this.perform(process, kind, target, work, effects);
    return gate.then(() => this.perform(process, kind, target, work, effects));
  }

  private perform<T>(process: SimulatedProcess, kind: CallKind, target: string, work: () => T, effects: { fault?: () => void; crash?: () => void }): Promise<T> {
    if (process.dead) return never();
    this.calls++;
    this.record(`${process.name} ${kind} ${target}`);
    if (this.crash !== null && --this.crash.countdown === 0) {
      const crashKind = this.crash.kind;
      this.crash = null;
      if (crashKind === 'process' || this.dice.chance(0.5)) effects.crash?.();
      this.event(`CRASH (${crashKind}) at call ${this.calls}: ${kind} ${target}`);
      this.lastCrash = crashKind;
      this.kill(process);
      return never();
    }
    const fault = this.takeFault(kind);
    if (fault !== null) {
      effects.fault?.();
      this.faultsFired++;
      this.event(`FAULT ${fault.code} on ${kind} ${target}`);
      return Promise.reject(errnoError(fault.code, kind, target));
    }
    try {
      return Promise.resolve(work());
    } catch (error) {
      return Promise.reject(error);
    }
  }

  private takeFault(kind: CallKind): ArmedFault | null {
    const index = this.faults.findIndex((fault) => fault.kind === kind && --fault.countdown === 0);
    if (index === -1) return null;
    return this.faults.splice(index, 1)[0]!;
  }

  private hash(line: string): void {
    for (let i = 0; i < line.length; i++) this.traceHash = Math.imul(this.traceHash ^ line.charCodeAt(i), 0x01000193) >>> 0;
  }

  private record(line: string): void {
    this.hash(line);
    this.onCall?.(line);
  }

  event(line: string): void {
    this.hash(line);
    this.onEvent?.(line);
  }

  nameOf(fd: number): string {
    const open = this.fds.get(fd);
    if (open === undefined) return `fd?`;
    return open.id === null ? 'outside' : this.nameOfId(open.id);
  }

  private nameOfId(id: number): string {
    for (const [name, entry] of this.live) if (entry.id === id) return name;
    return `#${id}`;
  }

  /** The name of `file` in the data directory, or null for a file elsewhere. */
  private entryName(file: string): string | null {
    return path.dirname(path.resolve(file)) === this.dataDir ? path.basename(file) : null;
  }

  private newFile(durable: Buffer): SimFile {
    const file: SimFile = { id: this.nextId++, cached: durable, store: durable, durable, versions: [], doubtful: new Map() };
    this.files.set(file.id, file);
    return file;
  }

  /**
   * The model's id of an existing file of the data directory; a file made outside the seam (or
   * replaced, when `check` compares inodes) is adopted with its content as durable.
   */
  private idOf(name: string, check: boolean): number {
    const known = this.live.get(name);
    const full = path.join(this.dataDir, name);
    if (known !== undefined && (!check || fs.statSync(full).ino === known.ino)) return known.id;
    const file = this.newFile(fs.readFileSync(full));
    this.live.set(name, { id: file.id, ino: fs.statSync(full).ino });
    return file.id;
  }

  private fileOf(fd: number): SimFile | null {
    const open = this.fds.get(fd);
    if (open === undefined) throw new Error(`simulated disk: descriptor ${fd} is not open`);
    return open.id === null ? null : this.files.get(open.id)!;
  }

  open(process: SimulatedProcess, file: string, flags: string): number {
    const name = this.entryName(file);
    const existed = fs.existsSync(file);
    const fd = fs.openSync(file, flags, 0o600);
    if (name === null) {
      this.fds.set(fd, { process, id: null });
      return fd;
    }
    let id: number;
    if (!existed) {
      id = this.newFile(Buffer.alloc(0)).id;
      this.live.set(name, { id, ino: fs.fstatSync(fd).ino });
      this.changes.push({ kind: 'create', name, id });
    } else id = this.idOf(name, true);
    this.fds.set(fd, { process, id });
    if (existed && flags.startsWith('w')) {
      const file = this.files.get(id)!;
      file.store = Buffer.alloc(0);
      this.changed(file, file.store);
    }
    return fd;
  }

  writev(fd: number, bytes: Buffer, position: number): void {
    fs.writeSync(fd, bytes, 0, bytes.length, position);
    const file = this.fileOf(fd);
    if (file === null) return;
    const end = Math.max(file.cached.length, position + bytes.length);
    const appends = position >= file.cached.length && file.cached.buffer === file.store.buffer && file.cached.byteOffset === file.store.byteOffset;
    if (!appends || end > file.store.length) {
      const store = Buffer.alloc(Math.max(end * 2, PAGE_BYTES));
      file.cached.copy(store);
      file.store = store;
    }
    bytes.copy(file.store, position);
    this.changed(file, file.store.subarray(0, end), position, bytes.length);
  }

  /** What a write cut short leaves behind: any prefix, or (a process killed mid-write) whole pages only. */
  writePart(fd: number, bytes: Buffer, position: number, unit: 'any' | 'pages'): void {
    let length = this.dice.int(0, Math.max(0, bytes.length - 1));
    if (unit === 'pages') {
      const boundary = Math.floor((position + length) / PAGE_BYTES) * PAGE_BYTES;
      length = Math.max(0, boundary - position);
    }
    if (length > 0) this.writev(fd, bytes.subarray(0, length), position);
  }

  /** The page cache of `file` changed: remember the new state; rewritten pages are dirty again. */
  private changed(file: SimFile, content: Buffer, position = 0, length = 0): void {
    file.cached = content;
    file.versions.push(content);
    if (file.versions.length > VERSIONS_KEPT) file.versions.shift();
    for (const page of [...file.doubtful.keys()]) {
      const start = page * PAGE_BYTES;
      if (start >= content.length || (start < position + length && position < start + PAGE_BYTES)) file.doubtful.delete(page);
    }
  }

  flush(fd: number): void {
    const file = this.fileOf(fd);
    if (file === null || this.options.lyingFlush === true) return;
    const size = fs.fstatSync(fd).size;
    if (size !== file.cached.length) throw new Error(`simulated disk: a file of ${size} bytes, ${file.cached.length} written through the seam: it was written outside the seam, which the disk cannot model`);
    file.durable = file.cached;
    file.versions = [];
  }

  /** A failed flush: pages that differed from the medium may be lost for good, even to a later flush. */
  flushFailed(fd: number): void {
    const file = this.fileOf(fd);
    if (file === null) return;
    const content = file.cached;
    for (let start = 0; start < content.length; start += PAGE_BYTES) {
      const page = start / PAGE_BYTES;
      const before = slice(file.durable, start, start + PAGE_BYTES, null);
      if (!file.doubtful.has(page) && !before.equals(slice(content, start, start + PAGE_BYTES, null))) file.doubtful.set(page, before);
    }
  }

  ftruncate(fd: number, length: number): void {
    fs.ftruncateSync(fd, length);
    const file = this.fileOf(fd);
    if (file === null) return;
    const content = Buffer.alloc(length);
    file.cached.copy(content, 0, 0, Math.min(length, file.cached.length));
    file.store = content;
    this.changed(file, content);
  }

  close(fd: number): void {
    this.fileOf(fd);
    this.fds.delete(fd);
    fs.closeSync(fd);
  }

  rename(from: string, to: string): void {
    const fromName = this.entryName(from);
    const toName = this.entryName(to);
    if (fromName === null || toName === null) throw new Error(`simulated disk: rename outside the data directory (${from} -> ${to})`);
    const id = this.idOf(fromName, false);
    fs.renameSync(from, to);
    this.live.delete(fromName);
    this.live.set(toName, { id, ino: fs.statSync(to).ino });
    this.changes.push({ kind: 'rename', from: fromName, to: toName });
  }

  unlink(file: string): void {
    const name = this.entryName(file);
    fs.unlinkSync(file);
    if (name === null) return;
    this.live.delete(name);
    this.changes.push({ kind: 'unlink', name });
  }

  fsyncDirectory(directory: string): void {
    if (path.resolve(directory) !== this.dataDir) return;
    this.durableEntries = new Map(this.listing().map((name) => [name, this.idOf(name, false)]));
    this.changes = [];
  }

  lock(process: SimulatedProcess, file: string): FileLock | null {
    const holder = this.locks.get(file);
    if (holder !== undefined && holder !== process && !holder.dead) return null;
    this.locks.set(file, process);
    fs.closeSync(fs.openSync(file, 'a', 0o600));
    return {
      release: async () => {
        if (this.locks.get(file) === process) this.locks.delete(file);
      },
    };
  }

  /** Regular files of the data directory that the model covers, sorted (readdir order is the file system's). */
  private listing(): string[] {
    return fs.readdirSync(this.dataDir, { withFileTypes: true })
      .filter((entry) => entry.isFile() && entry.name !== WRITER_LOCK_FILE)
      .map((entry) => entry.name)
      .sort();
  }

  /**
   * Takes the directory as it is now as durable (after `idnc repair`, which works outside the seam,
   * and after a power loss has rewritten it). A file keeps its id while its inode stays.
   */
  adoptAll(): void {
    if (this.fds.size > 0) throw new Error('simulated disk: adoptAll while files are open');
    const names = this.listing();
    for (const name of [...this.live.keys()]) if (!names.includes(name)) this.live.delete(name);
    for (const name of names) {
      const file = this.files.get(this.idOf(name, true))!;
      file.durable = fs.readFileSync(path.join(this.dataDir, name));
      file.cached = file.durable;
      file.store = file.durable;
      file.versions = [];
      file.doubtful.clear();
    }
    this.durableEntries = new Map(names.map((name) => [name, this.live.get(name)!.id]));
    this.changes = [];
  }

  /** Power loss: every process dies, then the directory and files are what the medium kept. */
  powerLoss(): string {
    for (const process of [...this.processes]) this.kill(process);
    this.lastCrash = null;
    const entries = new Map(this.durableEntries);
    const kept = this.dice.chance(0.3) ? 0 : this.dice.int(0, this.changes.length);
    for (const change of this.changes.slice(0, kept)) {
      if (change.kind === 'create') entries.set(change.name, change.id);
      else if (change.kind === 'unlink') entries.delete(change.name);
      else if (entries.has(change.from)) {
        entries.set(change.to, entries.get(change.from)!);
        entries.delete(change.from);
      }
    }
    const notes: string[] = [`kept ${kept} of ${this.changes.length} directory changes`];
    const contents = new Map<number, Buffer>();
    const sorted = [...entries].sort(([a], [b]) => (a < b ? -1 : 1));
    for (const [name, id] of sorted) if (!contents.has(id)) contents.set(id, this.survivor(this.files.get(id)!, name, notes));
    for (const name of this.listing()) fs.unlinkSync(path.join(this.dataDir, name));
    this.live.clear();
    for (const [name, id] of sorted) {
      const full = path.join(this.dataDir, name);
      fs.writeFileSync(full, contents.get(id)!, { mode: 0o600 });
      this.live.set(name, { id, ino: fs.statSync(full).ino });
    }
    this.adoptAll();
    return notes.join('; ');
  }

  /** What the medium holds of one file after a power loss. */
  private survivor(file: SimFile, name: string, notes: string[]): Buffer {
    const base = Buffer.from(file.durable);
    for (const [page, before] of file.doubtful) {
      if (this.dice.chance(0.5)) slice(before, 0, Math.max(0, Math.min(PAGE_BYTES, base.length - page * PAGE_BYTES)), null).copy(base, page * PAGE_BYTES);
    }
    if (file.versions.length === 0) return base;
    const cached = this.dice.pick(file.versions);
    const length = this.survivingLength(base.length, cached.length);
    const out = Buffer.alloc(length);
    let torn = 0;
    for (let start = 0; start < length; start += PAGE_BYTES) {
      const end = Math.min(start + PAGE_BYTES, length);
      const before = slice(base, start, end, null);
      const after = slice(cached, start, end, base);
      const draw = this.dice.unit();
      if (before.equals(after) || draw < 0.5) after.copy(out, start);
      else if (draw < 0.8) before.copy(out, start);
      else {
        const sectors = this.dice.int(1, Math.max(1, Math.ceil((end - start) / SECTOR_BYTES) - 1));
        before.copy(out, start);
        after.copy(out, start, 0, Math.min(after.length, sectors * SECTOR_BYTES));
        torn++;
      }
    }
    notes.push(`${name}: ${length} bytes (durable ${base.length}, page cache ${cached.length}${torn > 0 ? `, ${torn} torn pages` : ''})`);
    return out;
  }

  /** The size a power loss leaves: the durable one, the cached one, or any size between (metadata written back at some point). */
  private survivingLength(durable: number, cached: number): number {
    if (durable === cached) return durable;
    const draw = this.dice.unit();
    if (draw < 0.4) return cached;
    if (draw < 0.7) return durable;
    return this.dice.int(Math.min(durable, cached), Math.max(durable, cached));
  }

  /** Flips one bit of synced data of a log segment or snapshot that `wanted` accepts (medium and page cache); null if none found. */
  flipSyncedBit(wanted: (name: string) => boolean = () => true): BitFlip | null {
    const candidates = [...this.durableEntries].filter(([name, id]) => DATA_FILE_PATTERN.test(name) && wanted(name) && this.live.get(name)?.id === id && this.files.get(id)!.durable.length > 0);
    if (candidates.length === 0) return null;
    const [name, fileId] = this.dice.pick(candidates);
    const file = this.files.get(fileId)!;
    const full = path.join(this.dataDir, name);
    const cached = file.cached;
    for (let attempt = 0; attempt < 20; attempt++) {
      const offset = this.dice.int(0, file.durable.length - 1);
      if (offset >= cached.length || cached[offset] !== file.durable[offset]) continue;
      const bit = this.dice.int(0, 7);
      const old = file.durable[offset]!;
      const flipped = old ^ (1 << bit);
      for (const bytes of new Set([file.durable, file.cached, ...file.versions])) if (bytes[offset] === old) bytes[offset] = flipped;
      const fd = fs.openSync(full, 'r+');
      fs.writeSync(fd, Buffer.from([flipped]), 0, 1, offset);
      fs.closeSync(fd);
      this.event(`BIT FLIP ${name} offset ${offset} bit ${bit}`);
      return { name, fileId, offset, bit, value: flipped };
    }
    return null;
  }

  /** The durable bytes of a data-directory file by name (the run computes what a flip hit). */
  durableBytes(name: string): Buffer | null {
    const id = this.durableEntries.get(name);
    return id === undefined ? null : this.files.get(id)!.durable;
  }

  /** Whether a flipped byte is still on the medium under its name (not cut, removed or rewritten). */
  holds(flip: BitFlip): boolean {
    return this.durableEntries.get(flip.name) === flip.fileId && this.files.get(flip.fileId)!.durable[flip.offset] === flip.value;
  }
}
