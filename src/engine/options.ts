// Defaults and checks of the engine's options, shared by its parts (the durable log and the
// follower), so a default logger or a refusal reads the same whichever part meets it.

import type { EngineLogger } from '../logger.js';
import { IdncError } from '../errors.js';
import type { FsyncMode } from '../persist/log-writer.js';

/** Library default: warnings and errors to stderr, info dropped (a server passes its own logger). */
export const stderrLogger: EngineLogger = {
  info: () => undefined,
  warn: (message) => process.stderr.write(`idnc warning: ${message}\n`),
  error: (message) => process.stderr.write(`idnc error: ${message}\n`),
};

export function checkFsyncMode(fsync: unknown): FsyncMode {
  if (fsync === undefined) return 'always';
  if (fsync === 'always' || fsync === 'interval' || fsync === 'none') return fsync;
  throw new IdncError('INVALID_PARAMETER', `invalid fsync mode ${JSON.stringify(fsync)}: expected always, interval or none`);
}

/** `value` if it is a positive number, `fallback` if absent; `unit` ends the refusal ("of milliseconds"). */
export function checkPositive(value: number | undefined, name: string, fallback: number, unit = ''): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new IdncError('INVALID_PARAMETER', `invalid ${name} ${String(value)}: expected a positive number${unit === '' ? '' : ` ${unit}`}`);
  }
  return value;
}
