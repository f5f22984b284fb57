// Durable adds: acknowledged adds per second under fsync 'always' (group commit) with 1, 16 and 64
// concurrent writers through the library, each beside the raw ceiling of this disk measured in the
// same run: appending 100-byte records with one fdatasync per batch of the same size. A second
// baseline adds what the protocol itself needs per batch under fsync 'always': the 40-byte
// durable-seq mark rewritten and flushed after the records' flush. The disk of a
// shared machine changes speed from second to second, so the two alternate in short rounds: each
// figure is the median of its rounds, and the target judges the median of the ratios within each
// round (a durable round against the raw round just before it). Also reports how many adds shared
// one fdatasync (the raw loop's is its batch size). Checks itself by reopening the data directory
// and counting every acknowledged add, and the raw file's size.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openDnc, type Dnc } from '../src/index.js';
import { check, plain, versus } from './figures.js';
import type { Figure, Scenario } from './scenario.js';

const CONCURRENCIES = [1, 16, 64];
const RUN_MS = 2000;
const SMOKE_RUN_MS = 150;
/** Raw and durable rounds alternate this many times per concurrency (RUN_MS each in total). */
const ROUNDS = 5;
const RAW_RECORD_BYTES = 100;
const FIRST_NUMBER = 2_002_000_000;
const TARGET_RATIO = 0.5;
/** The durable-seq mark's flushed copy: 40 bytes at offset 512 (docs/file-formats.md). */
const RAW_MARK_BYTES = 40;
const RAW_MARK_OFFSET = 512;

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[sorted.length >> 1]!;
}

class RawAppender {
  written = 0;
  private readonly records: Buffer[];
  private readonly mark = Buffer.alloc(RAW_MARK_BYTES, 3);

  private constructor(
    private readonly file: string,
    private readonly handle: fs.promises.FileHandle,
    batch: number,
    /** A second file whose 40 bytes are rewritten and flushed after each batch, as the durable-seq mark is. */
    private readonly markHandle: fs.promises.FileHandle | null,
  ) {
    this.records = Array.from({ length: batch }, () => Buffer.alloc(RAW_RECORD_BYTES, 7));
  }

  static async open(dir: string, batch: number, withMark: boolean): Promise<RawAppender> {
    const name = `raw-${batch}${withMark ? '-marked' : ''}`;
    const file = path.join(dir, `${name}.bin`);
    const markHandle = withMark ? await fs.promises.open(path.join(dir, `${name}.mark`), 'w') : null;
    return new RawAppender(file, await fs.promises.open(file, 'w'), batch, markHandle);
  }

  /** Appends batches with one fdatasync each for `runMs`; returns records per second. */
  async round(runMs: number): Promise<number> {
    let written = 0;
    const started = performance.now();
    while (performance.now() - started < runMs) {
      await this.handle.writev(this.records);
      await this.handle.datasync();
      if (this.markHandle !== null) {
        await this.markHandle.write(this.mark, 0, RAW_MARK_BYTES, RAW_MARK_OFFSET);
        await this.markHandle.datasync();
      }
      written += this.records.length;
    }
    this.written += written;
    return written / ((performance.now() - started) / 1000);
  }

  async close(): Promise<void> {
    await this.markHandle?.close();
    await this.handle.close();
    check((await fs.promises.stat(this.file)).size === this.written * RAW_RECORD_BYTES, 'raw file holds every record');
  }
}

class DurableWriters {
  acknowledged = 0;
  /** fdatasyncs of the log during rounds (opening and closing flush too; those are not counted). */
  fdatasyncs = 0;
  private next = FIRST_NUMBER;
  private counting = false;
  private dnc: Dnc | null = null;

  constructor(private readonly dataDir: string, private readonly writers: number) {}

  async open(): Promise<void> {
    this.dnc = await openDnc({ dataDir: this.dataDir, fsync: 'always', fsyncObserver: () => this.counted() });
  }

  private counted(): void {
    if (this.counting) this.fdatasyncs++;
  }

  /** `writers` concurrent loops of awaited single adds for `runMs`; returns acknowledged adds per second. */
  async round(runMs: number): Promise<number> {
    const dnc = this.dnc!;
    let acknowledged = 0;
    this.counting = true;
    const started = performance.now();
    const writer = async (): Promise<void> => {
      while (performance.now() - started < runMs) {
        const result = await dnc.add(String(this.next++));
        acknowledged += result.changed;
      }
    };
    await Promise.all(Array.from({ length: this.writers }, writer));
    const seconds = (performance.now() - started) / 1000;
    this.counting = false;
    this.acknowledged += acknowledged;
    return acknowledged / seconds;
  }

  async close(): Promise<void> {
    await this.dnc?.close();
    const reopened = await openDnc({ dataDir: this.dataDir, readOnly: true });
    const count = reopened.count();
    await reopened.close();
    check(count === this.acknowledged, `reopened count ${count} equals ${this.acknowledged} acknowledged adds`);
  }
}

interface Measured {
  readonly adds: Figure;
  readonly pairedRatio: Figure;
  readonly markedAdds: Figure;
  readonly markedRatio: Figure;
  readonly perFdatasync: Figure;
}

async function measure(dir: string, writers: number, runMs: number): Promise<Measured> {
  const raw = await RawAppender.open(dir, writers, false);
  const marked = await RawAppender.open(dir, writers, true);
  const durable = new DurableWriters(path.join(dir, `data-${writers}`), writers);
  const rawRates: number[] = [];
  const markedRates: number[] = [];
  const durableRates: number[] = [];
  try {
    await durable.open();
    for (let round = 0; round < ROUNDS; round++) {
      rawRates.push(await raw.round(runMs / ROUNDS));
      markedRates.push(await marked.round(runMs / ROUNDS));
      durableRates.push(await durable.round(runMs / ROUNDS));
    }
  } finally {
    await raw.close();
    await marked.close();
    await durable.close();
  }
  const rawRate = median(rawRates);
  const markedRate = median(markedRates);
  const durableRate = median(durableRates);
  const ratio = median(durableRates.map((rate, round) => rate / rawRates[round]!));
  const markedRatio = median(durableRates.map((rate, round) => rate / markedRates[round]!));
  const addsPerFdatasync = durable.acknowledged / durable.fdatasyncs;
  return {
    adds: versus(`acknowledged adds, fsync always, ${writers} concurrent writers (median of ${ROUNDS} rounds)`, durableRate, 'ops/s',
      `raw 100-byte appends, one fdatasync per batch of ${writers}`, rawRate),
    pairedRatio: plain(`acknowledged adds / raw appends, ${writers} concurrent writers, within each of ${ROUNDS} rounds (median)`, ratio, 'x',
      { target: `>= ${TARGET_RATIO}`, met: ratio >= TARGET_RATIO }),
    markedAdds: versus(`acknowledged adds, fsync always, ${writers} concurrent writers (median of ${ROUNDS} rounds)`, durableRate, 'ops/s',
      `raw 100-byte appends plus a flushed 40-byte mark, per batch of ${writers}`, markedRate),
    markedRatio: plain(`acknowledged adds / raw appends plus a flushed mark, ${writers} concurrent writers, within each of ${ROUNDS} rounds (median)`, markedRatio, 'x'),
    perFdatasync: plain(`acknowledged adds per fdatasync, ${writers} concurrent writers (raw: ${writers})`, addsPerFdatasync, 'adds'),
  };
}

const scenario: Scenario = async (context) => {
  const runMs = context.smoke ? SMOKE_RUN_MS : RUN_MS;
  const dir = await fs.promises.mkdtemp(path.join(os.tmpdir(), 'idnc-bench-durable-'));
  const figures: Figure[] = [];
  try {
    for (const writers of CONCURRENCIES) {
      const { adds, pairedRatio, markedAdds, markedRatio, perFdatasync } = await measure(dir, writers, runMs);
      context.log(
        `durable adds: ${writers} writers ${adds.value.toFixed(0)}/s, raw ceiling ${adds.baseline?.value.toFixed(0)}/s ` +
          `(medians of ${ROUNDS} alternating rounds; ${pairedRatio.value.toFixed(2)}x within rounds), ` +
          `raw with a flushed mark ${markedAdds.baseline?.value.toFixed(0)}/s (${markedRatio.value.toFixed(2)}x), ${perFdatasync.value.toFixed(1)} adds per fdatasync`,
      );
      figures.push(pairedRatio, adds, markedRatio, markedAdds, perFdatasync);
    }
  } finally {
    await fs.promises.rm(dir, { recursive: true, force: true });
  }
  return { scenario: 'durable-adds', sizes: { runMs, rounds: ROUNDS, recordBytes: RAW_RECORD_BYTES }, figures };
};

export default scenario;
