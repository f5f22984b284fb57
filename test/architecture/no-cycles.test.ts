// No module of src/ imports, directly or through others, a module that imports it back: arrows
// point down (the layout in the style guide), so a lower module never needs an upper one, not even
// for a type. The import graph is read with TypeScript's own pre-processor (static imports and
// re-exports, `import type`, and dynamic `import()`), so comments and strings are not mistaken for
// imports; each cycle found is printed as a path of files.

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const srcDir = fileURLToPath(new URL('../../src', import.meta.url));

function sourceFiles(dir: string): string[] {
  const files: string[] = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const file = path.join(dir, entry.name);
    if (entry.isDirectory()) files.push(...sourceFiles(file));
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) files.push(file);
  }
  return files;
}

/** The src/ files a file imports (relative specifiers only: packages cannot import src/ back). */
function importsOf(file: string): string[] {
  const info = ts.preProcessFile(fs.readFileSync(file, 'utf8'), true, true);
  const imported: string[] = [];
  for (const { fileName } of info.importedFiles) {
    if (!fileName.startsWith('.')) continue;
    const target = path.resolve(path.dirname(file), fileName).replace(/\.js$/, '.ts');
    if (!fs.existsSync(target)) throw new Error(`${path.relative(srcDir, file)} imports ${fileName}, which is not a src/ file`);
    imported.push(target);
  }
  return imported;
}

/** Every cycle of the graph, each once, found by depth-first search from each file in turn. */
function findCycles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  const cycles = new Map<string, string[]>();
  const done = new Set<string>();
  const walk = (file: string, trail: string[]): void => {
    const at = trail.indexOf(file);
    if (at >= 0) {
      const cycle = trail.slice(at);
      const key = [...cycle].sort().join('\n');
      if (!cycles.has(key)) cycles.set(key, [...cycle, file]);
      return;
    }
    if (done.has(file)) return;
    trail.push(file);
    for (const next of graph.get(file) ?? []) walk(next, trail);
    trail.pop();
    done.add(file);
  };
  for (const file of graph.keys()) walk(file, []);
  return [...cycles.values()];
}

describe('the module graph of src/', () => {
  it('finds a cycle when there is one (so that the check below can fail)', () => {
    const graph = new Map([
      ['a', ['b']],
      ['b', ['c']],
      ['c', ['a', 'd']],
      ['d', []],
    ]);
    expect(findCycles(graph)).toEqual([['a', 'b', 'c', 'a']]);
    expect(findCycles(new Map([['a', ['b']], ['b', []]]))).toEqual([]);
  });

  it('has no import cycle', () => {
    const files = sourceFiles(srcDir);
    expect(files.length).toBeGreaterThan(50);
    const graph = new Map(files.map((file) => [file, importsOf(file)]));
    const cycles = findCycles(graph).map((cycle) => cycle.map((file) => path.relative(srcDir, file)).join(' -> '));
    expect(cycles).toEqual([]);
  });
});
