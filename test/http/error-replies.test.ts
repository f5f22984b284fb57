// The error catalogue: the library's codes (src/errors.ts) and the codes only the HTTP layer raises
// (src/http/error-replies.ts) never overlap, every one has an error HTTP status, and the error table
// of docs/http-api.md lists exactly these codes, each with that same status (clients key on them).

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERROR_CATALOGUE } from '../../src/errors.js';
import { HTTP_ERROR_CATALOGUE, REPLY_STATUS, type ReplyCode } from '../../src/http/error-replies.js';

const reference = readFileSync(new URL('../../docs/http-api.md', import.meta.url), 'utf8');
const libraryCodes = Object.keys(ERROR_CATALOGUE);
const httpCodes = Object.keys(HTTP_ERROR_CATALOGUE);

/** The rows of the error table: `| \`CODE\` | status | meaning |`. */
function documentedStatuses(): Map<string, number> {
  const rows = new Map<string, number>();
  for (const match of reference.matchAll(/^\| `([A-Z_]+)` \| (\d{3}) \|/gm)) {
    expect(rows.has(match[1]!), `${match[1]} is twice in the error table of docs/http-api.md`).toBe(false);
    rows.set(match[1]!, Number(match[2]));
  }
  return rows;
}

describe('error catalogue', () => {
  it('keeps the HTTP-only codes out of the library catalogue, and gives every code of both a status', () => {
    expect(libraryCodes.filter((code) => httpCodes.includes(code))).toEqual([]);
    expect(Object.keys(REPLY_STATUS).sort()).toEqual([...libraryCodes, ...httpCodes].sort());
  });

  it('names every code in upper snake case with a 4xx or 5xx status', () => {
    for (const [code, status] of Object.entries(REPLY_STATUS)) {
      expect(code).toMatch(/^[A-Z][A-Z_]*$/);
      expect(Number.isInteger(status) && status >= 400 && status <= 599, `${code}: ${status}`).toBe(true);
    }
  });

  it('documents exactly these codes in the HTTP API reference, each with its HTTP status', () => {
    const documented = documentedStatuses();
    for (const code of Object.keys(REPLY_STATUS) as ReplyCode[]) {
      expect(documented.get(code), `${code} in the error table of docs/http-api.md (missing, or another status)`).toBe(REPLY_STATUS[code]);
    }
    expect([...documented.keys()].filter((code) => !Object.hasOwn(REPLY_STATUS, code)), 'documented codes that do not exist').toEqual([]);
  });
});
