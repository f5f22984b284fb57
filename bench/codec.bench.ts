// Codec: parsing one 100,000-number `phoneList` (the largest request body) with parsePhoneList, the
// single-pass scanner, beside the obvious split(',') + trim + regex + Number baseline.

import { parsePhoneList } from '../src/index.js';
import { generateNumbers, toCommaList } from './data/registry.js';
import { check, versus } from './figures.js';
import { runMicro } from './harness.js';
import type { Scenario } from './scenario.js';

const LIST_NUMBERS = 100_000;
const SMOKE_LIST_NUMBERS = 1_000;
const SEED = 2;
const NANP_PATTERN = /^[2-9]\d{2}[2-9]\d{6}$/;

/** The baseline a reader would write first: one string per entry, a regex, Number(). */
function naiveParse(text: string): Float64Array {
  const parts = text.split(',');
  const numbers = new Float64Array(parts.length);
  let count = 0;
  for (const part of parts) {
    const entry = part.trim();
    if (entry === '') continue;
    if (!NANP_PATTERN.test(entry)) throw new Error('naive parser met an invalid entry');
    numbers[count++] = Number(entry);
  }
  return numbers.subarray(0, count);
}

function sameNumbers(a: Float64Array, b: Float64Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

const scenario: Scenario = async (context) => {
  const size = context.smoke ? SMOKE_LIST_NUMBERS : LIST_NUMBERS;
  const data = generateNumbers('registry', size, SEED).numbers;
  const text = toCommaList(data);
  context.log(`codec: ${size} numbers, ${text.length} characters`);

  const parsed = parsePhoneList(text);
  check(parsed.invalidCount === 0 && sameNumbers(parsed.numbers, data), 'parsePhoneList returned the generated numbers');
  check(sameNumbers(naiveParse(text), data), 'the naive parser returned the generated numbers');

  const [idnc, naive] = runMicro(
    [
      { name: 'parsePhoneList', opsPerCall: size, fn: () => parsePhoneList(text).numbers.length },
      { name: 'split + trim + regex + Number', opsPerCall: size, fn: () => naiveParse(text).length },
    ],
    { smoke: context.smoke, maxTimeSeconds: 2 },
  );
  return {
    scenario: 'codec',
    sizes: { listNumbers: size },
    figures: [
      versus('parsePhoneList', idnc!.opsPerSecond, 'numbers/s', naive!.name, naive!.opsPerSecond),
      versus('parsePhoneList per number', idnc!.nsPerOp, 'ns/op', naive!.name, naive!.nsPerOp),
    ],
  };
};

export default scenario;
