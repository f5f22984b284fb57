// Progress of `idnc import` on stderr: a cli-progress bar (rows, rate, ETA) when stderr is a
// terminal, otherwise a plain line every IMPORT_PROGRESS_INTERVAL_MS so logs of a cron job or a CI
// run show that it is alive without being flooded. Never prints a phone number.

import cliProgress from 'cli-progress';
import { IMPORT_PROGRESS_INTERVAL_MS } from '../constants.js';

export interface Progress {
  /** `done`/`total` in the phase's unit (bytes while reading: total 0 means unknown, e.g. stdin). */
  update(done: number, total: number, rows: number): void;
  stop(): void;
}

function megabytes(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

export function startProgress(phase: string, unit: 'bytes' | 'numbers'): Progress {
  const started = performance.now();
  if (process.stderr.isTTY === true) {
    const bar = new cliProgress.SingleBar(
      {
        format: `${phase} [{bar}] {percentage}% | {rows} rows | {rate} rows/s | ETA {eta_formatted}`,
        stream: process.stderr,
        hideCursor: true,
        etaBuffer: 50,
      },
      cliProgress.Presets.shades_classic,
    );
    let begun = false;
    return {
      update(done, total, rows) {
        const rate = Math.round(rows / Math.max((performance.now() - started) / 1000, 1e-3));
        if (!begun) {
          bar.start(Math.max(total, 1), 0, { rows: 0, rate: 0 });
          begun = true;
        }
        if (total > 0) bar.setTotal(total);
        bar.update(total > 0 ? done : 0, { rows: rows.toLocaleString('en-US'), rate: rate.toLocaleString('en-US') });
      },
      stop() {
        if (begun) bar.stop();
      },
    };
  }
  let last = started;
  return {
    update(done, total, rows) {
      const now = performance.now();
      if (now - last < IMPORT_PROGRESS_INTERVAL_MS) return;
      last = now;
      const seconds = (now - started) / 1000;
      const of = total > 0 ? ` of ${unit === 'bytes' ? megabytes(total) : total}` : '';
      const amount = unit === 'bytes' ? megabytes(done) : String(done);
      process.stderr.write(`idnc import: ${phase} ${amount}${of}, ${rows} rows, ${Math.round(rows / seconds)} rows/s\n`);
    },
    stop() {},
  };
}
