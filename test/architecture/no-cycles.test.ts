// No module of src/ imports, directly or through others, a module that imports it back: arrows
// point down (the layout in the style guide), so a lower module never needs an upper one, not even
// for a type. The import graph is read with TypeScript's own pre-processor (static imports and
// re-exports, `import type`, and dynamic `import()`), so comments and strings are not mistaken for
// imports; each cycle found is printed as a path of files.

import fs from 'node:fs';
import os from 'node:os';
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

/** The package's own name: importing it from src/ would reach src/ back through dist/, unseen. */
const SELF = 'idnc';

/**
 * The src/ files a file imports. Other packages cannot import src/ back, so only relative
 * specifiers are followed; a specifier naming this package itself is refused outright.
 */
function importsOf(file: string, root = srcDir): string[] {
  const info = ts.preProcessFile(fs.readFileSync(file, 'utf8'), true, true);
  const imported: string[] = [];
  for (const { fileName } of info.importedFiles) {
    if (fileName === SELF || fileName.startsWith(`${SELF}/`)) throw new Error(`${path.relative(root, file)} imports its own package (${fileName})`);
    if (!fileName.startsWith('.')) continue;
    const target = path.resolve(path.dirname(file), fileName).replace(/\.js$/, '.ts');
    if (!fs.existsSync(target)) throw new Error(`${path.relative(root, file)} imports ${fileName}, which is not a src/ file`);
    imported.push(target);
  }
  return imported;
}

/** Cycles of the graph, at least one whenever there is any, found by depth-first search from each file in turn. */
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

  it('reads re-exports, type-only imports and dynamic imports, and refuses an import of the package itself', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'idnc-cycles-'));
    try {
      for (const name of ['a', 'b', 'c', 'd']) fs.writeFileSync(path.join(dir, `${name}.ts`), '');
      const importer = path.join(dir, 'main.ts');
      fs.writeFileSync(importer, "export * from './a.js';\nimport type { B } from './b.js';\nconst c = () => import('./c.js');\n// import './d.js'\nimport fs from 'node:fs';\n");
      expect(importsOf(importer, dir).map((file) => path.basename(file)).sort()).toEqual(['a.ts', 'b.ts', 'c.ts']);
      fs.writeFileSync(importer, "import { openDnc } from 'idnc';\n");
      expect(() => importsOf(importer, dir)).toThrow(/its own package/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('has no import cycle', () => {
    const files = sourceFiles(srcDir);
    expect(files.length).toBeGreaterThan(50);
    const graph = new Map(files.map((file) => [file, importsOf(file)]));
    const cycles = findCycles(graph).map((cycle) => cycle.map((file) => path.relative(srcDir, file)).join(' -> '));
    expect(cycles).toEqual([]);
  });
});
