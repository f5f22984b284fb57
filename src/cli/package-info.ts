// Reads idnc's own package.json (two levels above dist/cli) for the version the CLI prints.

import { readFileSync } from 'node:fs';

export function packageVersion(): string {
  const url = new URL('../../package.json', import.meta.url);
  const manifest = JSON.parse(readFileSync(url, 'utf8')) as { version: string };
  return manifest.version;
}
