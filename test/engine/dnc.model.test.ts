// Model-based property test: random sequences of add/remove/status/count/scrub across several
// organisations and projects, with invalid entries mixed in, checked against a plain JS Set model
// after every step.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { openDnc, type Dnc } from '../../src/index.js';

const ORGS = ['default', 'acme', 'globex'];
const PROJECTS = ['', 'p1', 'p2'];

/** A small pool of valid numbers so that adds, removes and lookups collide often. */
const validDigits = fc.constantFrom(
  '5039367187', '7075276405', '2125550100', '2125550101', '9999999999', '2002000000', '8005559999', '3125550199',
);
const invalidDigits = fc.constantFrom('BADNUMBER', '503936718', '15039367187', '1039367187', '5030367187', '+1503936718', '５０３９３６７１８７');
const entry = fc.oneof({ weight: 6, arbitrary: validDigits }, { weight: 1, arbitrary: invalidDigits });
const listAddress = fc.record({ org: fc.constantFrom(...ORGS), projId: fc.constantFrom(...PROJECTS) });

const operation = fc.oneof(
  fc.record({ kind: fc.constantFrom('add', 'remove'), entries: fc.array(entry, { maxLength: 6 }), ignoreInvalid: fc.boolean(), address: listAddress }),
  fc.record({ kind: fc.constant('status'), entries: fc.array(entry, { maxLength: 6 }), ignoreInvalid: fc.boolean(), address: listAddress }),
  fc.record({ kind: fc.constant('scrub'), entries: fc.array(validDigits, { maxLength: 12 }), ignoreInvalid: fc.constant(false), address: listAddress }),
);
type Operation = typeof operation extends fc.Arbitrary<infer T> ? T : never;

class Model {
  private readonly lists = new Map<string, Set<string>>();

  list(org: string, projId: string): Set<string> {
    const key = `${org}\u0000${projId}`;
    let list = this.lists.get(key);
    if (list === undefined) this.lists.set(key, (list = new Set()));
    return list;
  }

  blockedBy(org: string, projId: string, digits: string): 'project' | 'master' | null {
    if (projId !== '' && this.list(org, projId).has(digits)) return 'project';
    return this.list(org, '').has(digits) ? 'master' : null;
  }
}

const isValid = (digits: string): boolean => /^[2-9]\d{2}[2-9]\d{6}$/.test(digits);

async function step(dnc: Dnc, model: Model, op: Operation): Promise<void> {
  const { org, projId } = op.address;
  const valid = op.entries.filter(isValid);
  const anyInvalid = valid.length !== op.entries.length;
  const options = { org, projId, ignoreInvalid: op.ignoreInvalid };
  const refused = anyInvalid && !op.ignoreInvalid;
  if (op.kind === 'add' || op.kind === 'remove') {
    const list = model.list(org, projId);
    const attempt = op.kind === 'add' ? dnc.add(op.entries, options) : dnc.remove(op.entries, options);
    if (refused) {
      await expect(attempt).rejects.toMatchObject({ code: 'INVALID_PHONE' });
      return;
    }
    const expectedChanged = new Set(valid.filter((digits) => list.has(digits) === (op.kind === 'remove'))).size;
    for (const digits of valid) op.kind === 'add' ? list.add(digits) : list.delete(digits);
    const result = await attempt;
    expect(result.changed).toBe(expectedChanged);
    expect(result.skipped).toBe(op.entries.length - valid.length);
  } else if (op.kind === 'status') {
    if (refused) {
      expect(() => dnc.status(op.entries, options)).toThrowError(/invalid phone number/);
      return;
    }
    const expected = valid.map((phone) => {
      const list = model.blockedBy(org, projId, phone);
      return { phone, onList: list !== null, list };
    });
    expect(dnc.status(op.entries, options)).toEqual(expected);
  } else {
    const expected = valid.filter((digits) => model.blockedBy(org, projId, digits) !== null);
    expect(dnc.scrub(op.entries, options).blocked).toEqual(expected);
  }
}

function checkCounts(dnc: Dnc, model: Model): void {
  for (const org of ORGS) {
    for (const projId of PROJECTS) expect(dnc.count({ org, projId })).toBe(model.list(org, projId).size);
  }
}

describe('the engine against a Set model', () => {
  it('agrees after every step of random operation sequences', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(operation, { minLength: 1, maxLength: 40 }), async (ops) => {
        const dnc = await openDnc();
        const model = new Model();
        for (const op of ops) {
          await step(dnc, model, op);
          checkCounts(dnc, model);
        }
      }),
      { numRuns: 300 },
    );
  });
});
