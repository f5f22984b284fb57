// The error catalogue: every code is upper snake case, has an error HTTP status, and is documented in
// the error table of docs/http-api.md with that same status (clients key on these codes).

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERROR_CATALOGUE } from '../../src/errors.js';

const reference = readFileSync(new URL('../../docs/http-api.md', import.meta.url), 'utf8');

describe('error catalogue', () => {
  const codes = Object.keys(ERROR_CATALOGUE) as (keyof typeof ERROR_CATALOGUE)[];

  it('names every code in upper snake case, with a 4xx or 5xx status', () => {
    for (const code of codes) {
      expect(code).toMatch(/^[A-Z][A-Z_]*$/);
      const { statusCode } = ERROR_CATALOGUE[code];
      expect(Number.isInteger(statusCode) && statusCode >= 400 && statusCode <= 599).toBe(true);
    }
  });

  it('documents every code in the HTTP API reference with its HTTP status', () => {
    for (const code of codes) {
      const row = new RegExp(`^\\| \`${code}\` \\| (\\d{3}) \\|`, 'm').exec(reference);
      expect(row, `${code} is not in the error table of docs/http-api.md`).not.toBeNull();
      expect(Number(row![1])).toBe(ERROR_CATALOGUE[code].statusCode);
    }
  });
});
