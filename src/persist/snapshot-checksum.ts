// The whole-file CRC-32 of a large snapshot, computed partly on a worker thread. A million small
// lists make a sorted section of hundreds of megabytes whose checksum cost the save's main thread
// about a third of its time; the worker checksums each copy buffer while the main thread fills
// the next one and the previous one is written. Parts checksummed apart are joined in file order
// by crc32Combine (zlib's crc32_combine), so the file's bytes and checksum are those of a save
// without the worker.
//
// The worker reads the buffers it is given in place: they live in SharedArrayBuffers, and the
// writer refills one only once its checksum and its write are both done. Its code is a string
// (eval), so that it runs alike from the sources and compiled. One worker serves every save of the
// process (leaseChecksumWorker): starting one took 40-70 ms, which a save would wait for; between
// saves it is unref'd, so it never keeps the process alive.

import { Worker } from 'node:worker_threads';

const POLYNOMIAL = 0xedb88320;

/** a(x) * b(x) modulo the CRC-32 polynomial, bit-reflected as zlib's multmodp. */
function multiplyModP(a: number, b: number): number {
  let product = 0;
  for (let bit = 0x80000000; bit !== 0; bit >>>= 1) {
    if ((a & bit) !== 0) {
      product ^= b;
      if ((a & (bit - 1)) === 0) break;
    }
    b = (b & 1) !== 0 ? (b >>> 1) ^ POLYNOMIAL : b >>> 1;
  }
  return product >>> 0;
}

/** x^(2^n) modulo the polynomial, for n = 0..31 (zlib's x2n_table). */
const X_TO_TWO_TO_N = new Uint32Array(32);
X_TO_TWO_TO_N[0] = 0x40000000;
for (let n = 1; n < 32; n++) X_TO_TWO_TO_N[n] = multiplyModP(X_TO_TWO_TO_N[n - 1]!, X_TO_TWO_TO_N[n - 1]!);

/** x^(n * 2^k) modulo the polynomial (zlib's x2nmodp); n up to 2^53. */
function xToNModP(n: number, k: number): number {
  let product = 0x80000000;
  for (let rest = n, at = k; rest > 0; rest = Math.floor(rest / 2), at++) {
    if (rest % 2 === 1) product = multiplyModP(X_TO_TWO_TO_N[at & 31]!, product);
  }
  return product;
}

/** The CRC-32 of A followed by B, from the CRC-32 of A, that of B, and B's length in bytes. */
export function crc32Combine(crcA: number, crcB: number, bytesB: number): number {
  return (multiplyModP(xToNModP(bytesB, 3), crcA) ^ crcB) >>> 0;
}

const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const { crc32 } = require('node:zlib');
parentPort.on('message', ({ buffer, offset, length }) => parentPort.postMessage(crc32(new Uint8Array(buffer, offset, length))));
`;

/** A worker thread computing the CRC-32 (from 0) of views of SharedArrayBuffers, one at a time, in the order asked. */
export class ChecksumWorker {
  private readonly worker: Worker;
  private readonly pending: { resolve: (crc: number) => void; reject: (error: Error) => void }[] = [];
  private failure: Error | undefined;
  /** Saves using it: while there is one, it keeps the process alive (a save waiting on a checksum alone must). */
  private users = 0;

  constructor() {
    this.worker = new Worker(WORKER_SOURCE, { eval: true });
    this.worker.unref();
    this.worker.on('message', (crc: number) => this.pending.shift()?.resolve(crc));
    this.worker.on('error', (error) => this.fail(error));
    this.worker.on('exit', (code) => this.fail(new Error(`snapshot checksum worker exited (code ${code})`)));
  }

  /**
   * The CRC-32 of `bytes` (a view of a SharedArrayBuffer, unchanged until the promise settles).
   * The promise is handled (rejections never go unhandled); its caller awaits it.
   */
  checksum(bytes: Uint8Array): Promise<number> {
    const result = new Promise<number>((resolve, reject) => {
      if (this.failure !== undefined) reject(this.failure);
      else this.pending.push({ resolve, reject });
    });
    result.catch(() => undefined);
    if (this.failure === undefined) this.worker.postMessage({ buffer: bytes.buffer, offset: bytes.byteOffset, length: bytes.byteLength });
    return result;
  }

  /** Whether it failed or was closed: it gives no checksum any more. */
  get failed(): boolean {
    return this.failure !== undefined;
  }

  /** A save starts using it; `release` when that save ends, whichever way. */
  use(): () => void {
    if (this.users++ === 0) this.worker.ref();
    let used = true;
    return () => {
      if (!used) return;
      used = false;
      if (--this.users === 0) this.worker.unref();
    };
  }

  /** Stops the worker; checksums not yet given fail. */
  async close(): Promise<void> {
    this.fail(new Error('snapshot checksum worker closed'));
    await this.worker.terminate();
  }

  private fail(error: Error): void {
    this.failure ??= error;
    for (const { reject } of this.pending.splice(0)) reject(this.failure);
  }
}

let shared: ChecksumWorker | undefined;

/** The process's checksum worker (a new one if there is none or it failed), used until `release`. */
export function leaseChecksumWorker(): { readonly worker: ChecksumWorker; readonly release: () => void } {
  if (shared === undefined || shared.failed) shared = new ChecksumWorker();
  return { worker: shared, release: shared.use() };
}
