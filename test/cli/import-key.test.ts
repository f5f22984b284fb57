// Where an online import takes its key from and where it may send it (src/cli/import-key.ts).

import { expect, it } from 'vitest';
import { checkKeyTransport, resolveImportKey } from '../../src/cli/import-key.js';

it('sends a key over plain http only to this machine, unless --insecure', () => {
  for (const base of ['http://127.0.0.1:3000', 'http://127.8.9.10', 'http://localhost:3000', 'http://api.localhost', 'http://[::1]:3000', 'https://dnc.example.com']) {
    expect(() => checkKeyTransport(base, false), base).not.toThrow();
  }
  for (const base of ['http://dnc.example.com', 'http://10.0.0.5:3000', 'http://127.0.0.1.example.com', 'http://[::2]:3000']) {
    expect(() => checkKeyTransport(base, false), base).toThrow(/plain http to another host/);
    expect(() => checkKeyTransport(base, true), base).not.toThrow();
  }
});

it('takes the key from --key-file, --key (warned) or IDNC_KEY, in that order', () => {
  const warnings: string[] = [];
  const warn = (message: string): void => void warnings.push(message);
  expect(resolveImportKey({}, { IDNC_KEY: ' idnc_env \n' }, warn)).toBe('idnc_env');
  expect(warnings).toEqual([]);
  expect(resolveImportKey({ key: 'idnc_flag' }, { IDNC_KEY: 'idnc_env' }, warn)).toBe('idnc_flag');
  expect(warnings).toHaveLength(1);
  expect(() => resolveImportKey({}, { IDNC_KEY: '  ' }, warn)).toThrow(/set IDNC_KEY/);
});
