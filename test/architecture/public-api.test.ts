// The library's public types (everything src/index.ts exports, and every type reachable from those
// through properties, parameters, return values and type arguments) hold no cluster plumbing: the
// hooks `idnc serve --workers` wires between its workers are reached through src/open.ts alone, so
// a library user's editor never offers them. Read with TypeScript's own checker over src/, so a
// hook that comes back through any option type, engine member or callback fails here.

import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { beforeAll, describe, expect, it } from 'vitest';

const srcDir = fileURLToPath(new URL('../../src', import.meta.url));
const indexFile = path.join(srcDir, 'index.ts');

/** Names of the cluster's hooks and of the types only they use. */
const CLUSTER_NAMES = ['afterCommit', 'forwardChange', 'forwardApplyWaitMs', 'AfterCommit', 'ForwardChange', 'ForwardedChange'];

interface PublicSurface {
  readonly exported: string[];
  /** Members and named types declared in src/ that a user of the exports can reach. */
  readonly reachable: Set<string>;
}

const inSrc = (declaration: ts.Declaration): boolean => path.resolve(declaration.getSourceFile().fileName).startsWith(srcDir + path.sep);

const isPrivate = (declaration: ts.Declaration): boolean =>
  (ts.getCombinedModifierFlags(declaration) & (ts.ModifierFlags.Private | ts.ModifierFlags.Protected)) !== 0 ||
  (ts.isPropertyDeclaration(declaration) && ts.isPrivateIdentifier(declaration.name));

function publicSurface(): PublicSurface {
  const program = ts.createProgram([indexFile], {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    types: ['node'],
  });
  const checker = program.getTypeChecker();
  const reachable = new Set<string>();
  const seen = new Set<ts.Type>();

  const walkSignature = (signature: ts.Signature): void => {
    for (const parameter of signature.getParameters()) walk(checker.getTypeOfSymbol(parameter));
    walk(signature.getReturnType());
  };
  const walk = (type: ts.Type): void => {
    if (seen.has(type)) return;
    seen.add(type);
    const named = type.aliasSymbol ?? type.getSymbol();
    if (named?.declarations?.some(inSrc) === true) reachable.add(named.getName());
    if (type.isUnionOrIntersection()) type.types.forEach(walk);
    if (type.flags & ts.TypeFlags.Object && (type as ts.ObjectType).objectFlags & ts.ObjectFlags.Reference) {
      checker.getTypeArguments(type as ts.TypeReference).forEach(walk);
    }
    type.aliasTypeArguments?.forEach(walk);
    for (const property of type.getProperties()) {
      const declarations = property.declarations ?? [];
      if (!declarations.some(inSrc) || declarations.some(isPrivate)) continue;
      reachable.add(property.getName());
      walk(checker.getTypeOfSymbol(property));
    }
    type.getCallSignatures().forEach(walkSignature);
    type.getConstructSignatures().forEach(walkSignature);
  };

  const index = program.getSourceFile(indexFile)!;
  const exports = checker.getExportsOfModule(checker.getSymbolAtLocation(index)!);
  for (const exported of exports) {
    const symbol = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
    if (symbol.flags & ts.SymbolFlags.Type) walk(checker.getDeclaredTypeOfSymbol(symbol));
    if (symbol.flags & ts.SymbolFlags.Value) walk(checker.getTypeOfSymbol(symbol));
  }
  return { exported: exports.map((symbol) => symbol.getName()), reachable };
}

describe('the public API in src/index.ts', () => {
  let surface: PublicSurface;
  beforeAll(() => {
    surface = publicSurface();
  }, 60_000);

  it('is walked deep enough to see the options and members of every kind of engine', () => {
    // A walk that stopped at the exported names would pass the check below without looking.
    for (const name of ['fsyncObserver', 'segmentBytesMax', 'staleAfterMs', 'onWriterStopped', 'lagMs', 'snapshot', 'scrub', 'EngineLogger']) {
      expect(surface.reachable, name).toContain(name);
    }
  });

  it('shows no cluster plumbing, neither exported nor reachable', () => {
    expect(surface.exported.filter((name) => CLUSTER_NAMES.includes(name))).toEqual([]);
    expect([...surface.reachable].filter((name) => CLUSTER_NAMES.includes(name))).toEqual([]);
  });
});
