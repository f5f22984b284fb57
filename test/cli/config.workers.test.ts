// `--workers` <- IDNC_WORKERS <- 1, validated with a message naming the setting.

import { describe, expect, it } from 'vitest';
import { ConfigError, resolveWorkers } from '../../src/cli/config.js';

describe('--workers', () => {
  it('defaults to one worker, takes the environment, and the flag over it', () => {
    expect(resolveWorkers(undefined, {})).toBe(1);
    expect(resolveWorkers(undefined, { IDNC_WORKERS: '' })).toBe(1);
    expect(resolveWorkers(undefined, { IDNC_WORKERS: '3' })).toBe(3);
    expect(resolveWorkers('2', { IDNC_WORKERS: '3' })).toBe(2);
    expect(resolveWorkers('64', {})).toBe(64);
  });

  it('refuses what is not a whole number from 1 to 64', () => {
    for (const bad of ['0', '65', '-1', '1.5', 'two', ' ', '1e1']) {
      expect(() => resolveWorkers(bad, {})).toThrow(ConfigError);
      expect(() => resolveWorkers(bad, {})).toThrow(/--workers \(IDNC_WORKERS\)/);
    }
    expect(() => resolveWorkers(undefined, { IDNC_WORKERS: 'many' })).toThrow(/"many"/);
  });
});
