import { describe, expect, it } from 'vitest';
import { loadServeConfig } from '../../src/cli/config.js';
import { SCRUB_STREAM_NUMBERS_MAX } from '../../src/constants.js';

describe('idnc serve --scrub-max-numbers', () => {
  it('defaults to SCRUB_STREAM_NUMBERS_MAX, takes a positive count, refuses anything else', () => {
    expect(loadServeConfig({}, {}).scrubNumbersMax).toBe(SCRUB_STREAM_NUMBERS_MAX);
    expect(loadServeConfig({ scrubMaxNumbers: '250000' }, {}).scrubNumbersMax).toBe(250_000);
    expect(() => loadServeConfig({ scrubMaxNumbers: '0' }, {})).toThrow(/--scrub-max-numbers/);
    expect(() => loadServeConfig({ scrubMaxNumbers: '1e6' }, {})).toThrow(/--scrub-max-numbers/);
  });
});
