// idnc's version, from its own package.json, found the way Node finds a package: by name, from the
// nearest package.json above this module (package self-reference, which needs "./package.json" in
// its exports). So it is the same file from src/ (tests), dist/, the bench build and an install.

import { createRequire } from 'node:module';

export function packageVersion(): string {
  const manifest = createRequire(import.meta.url)('idnc/package.json') as { version: string };
  return manifest.version;
}
