// Programmer errors: a broken invariant is a bug, so it throws at once and loudly (over HTTP a 500
// INTERNAL, never a catalogue code; the CLI prints its stack). Errors a caller can cause are
// IdncErrors (errors.ts); damaged data on disk is a DataCorruptError. A leaf module, so any module
// may use it. On hot paths pass a constant message: a template string would be built on every call.

export class AssertionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AssertionError';
  }
}

export function assert(condition: boolean, message: string): asserts condition {
  if (!condition) throw new AssertionError(message);
}
