// Where `idnc import --url` takes its API key from, and where it may send it. A key on the command
// line is visible to every local user (`ps`, /proc/<pid>/cmdline), so the key comes from the
// environment (IDNC_KEY) or a file (--key-file); --key still works, with a warning. Plain http
// carries the key in clear text, so it goes only to a loopback host unless --insecure says so.

import fs from 'node:fs';
import { ConfigError } from './config.js';

export interface ImportKeyFlags {
  readonly key?: string;
  readonly keyFile?: string;
  readonly insecure?: boolean;
}

/** The key for an online import: --key-file, then --key (warned), then IDNC_KEY. */
export function resolveImportKey(flags: ImportKeyFlags, env: NodeJS.ProcessEnv, warn: (message: string) => void): string {
  if (flags.key !== undefined && flags.keyFile !== undefined) throw new ConfigError('--key and --key-file: give the key one way');
  if (flags.keyFile !== undefined) return readKeyFile(flags.keyFile);
  if (flags.key !== undefined) {
    warn('--key shows the key to every user of this machine (ps); pass it in IDNC_KEY or --key-file instead');
    return flags.key;
  }
  const fromEnv = env['IDNC_KEY'];
  if (fromEnv !== undefined && fromEnv.trim() !== '') return fromEnv.trim();
  throw new ConfigError('--url needs an API key with write scope: set IDNC_KEY, or give --key-file FILE');
}

function readKeyFile(file: string): string {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`--key-file ${file}: cannot read it (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  const key = text.trim();
  if (key === '' || /\s/.test(key)) throw new ConfigError(`--key-file ${file}: expected one API key on one line`);
  return key;
}

const LOOPBACK_HOSTS = new Set(['localhost', '[::1]']);

function isLoopback(hostname: string): boolean {
  return LOOPBACK_HOSTS.has(hostname) || /^127(\.\d{1,3}){3}$/.test(hostname) || hostname.endsWith('.localhost');
}

/** Refuses to send a key over plain http to a host other than this machine, unless --insecure. */
export function checkKeyTransport(base: string, insecure: boolean): void {
  let url: URL;
  try {
    url = new URL(base);
  } catch {
    return;
  }
  if (url.protocol !== 'http:' || isLoopback(url.hostname) || insecure) return;
  throw new ConfigError(`--url ${url.origin} is plain http to another host: the key would cross the network in clear text; use https://, or --insecure if the network is trusted`);
}
