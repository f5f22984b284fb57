// Promises that resolve once an engine has applied a given log seq: `dnc.waitFor(seq, timeoutMs)`.
// A process that writes through the HTTP API (which answers with the `idnc-seq` header) and reads
// from an embedded follower waits here for its own write. Writers and followers share this one
// implementation so code can treat both alike; each calls `advance` when its applied seq grows.

import { WAIT_FOR_TIMEOUT_MS_MAX } from '../constants.js';
import { IdncError } from '../errors.js';

interface Waiter {
  readonly seq: number;
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
  readonly timer: NodeJS.Timeout;
}

export function checkWaitArguments(seq: unknown, timeoutMs: unknown): void {
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 0) {
    throw new IdncError('INVALID_PARAMETER', `invalid seq ${String(seq)}: expected a whole number >= 0 (the idnc-seq of a change)`);
  }
  if (typeof timeoutMs !== 'number' || !Number.isFinite(timeoutMs) || timeoutMs < 0 || timeoutMs > WAIT_FOR_TIMEOUT_MS_MAX) {
    throw new IdncError('INVALID_PARAMETER', `invalid timeoutMs ${String(timeoutMs)}: expected 0 to ${WAIT_FOR_TIMEOUT_MS_MAX} milliseconds`);
  }
}

export class SeqWaiters {
  private waiters: Waiter[] = [];

  /** Resolves once `advance` reports `seq` (at once if `appliedSeq` already covers it). */
  wait(appliedSeq: number, seq: number, timeoutMs: number): Promise<void> {
    checkWaitArguments(seq, timeoutMs);
    if (seq <= appliedSeq) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((waiter) => waiter.timer !== timer);
        reject(
          new IdncError(
            'WAIT_TIMEOUT',
            `seq ${seq} was not applied within ${timeoutMs} ms (this instance has applied up to seq ${appliedSeq} at the start of the wait)`,
          ),
        );
      }, timeoutMs);
      this.waiters.push({ seq, resolve, reject, timer });
    });
  }

  /** Resolves every wait for a seq up to `appliedSeq`. */
  advance(appliedSeq: number): void {
    if (this.waiters.length === 0) return;
    const waiting: Waiter[] = [];
    for (const waiter of this.waiters) {
      if (waiter.seq <= appliedSeq) {
        clearTimeout(waiter.timer);
        waiter.resolve();
      } else waiting.push(waiter);
    }
    this.waiters = waiting;
  }

  /** Rejects every pending wait (the engine is closing). */
  rejectAll(error: Error): void {
    for (const waiter of this.waiters) {
      clearTimeout(waiter.timer);
      waiter.reject(error);
    }
    this.waiters = [];
  }
}
