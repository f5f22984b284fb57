import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NumberParser, type ParserOptions } from '../../src/bulk/number-parser.js';
import { NumberSorter, sortUniqueNumbers } from '../../src/bulk/sort-numbers.js';

function parse(text: string, options: ParserOptions = {}, chunkBytes = 0) {
  const parser = new NumberParser(options, 16);
  const bytes = Buffer.from(text, 'utf8');
  if (chunkBytes === 0) parser.push(bytes);
  else for (let at = 0; at < bytes.length; at += chunkBytes) parser.push(bytes.subarray(at, at + chunkBytes));
  parser.end();
  return {
    numbers: Array.from(parser.numbers.subarray(0, parser.count)),
    invalid: parser.invalid.map(({ line, entry, reason }) => ({ line, entry, reason })),
    invalidCount: parser.invalidCount,
    entries: parser.entries,
    header: parser.headerSkipped,
  };
}

describe('NumberParser, text', () => {
  it('reads one number per line and comma-separated entries, skipping blank ones', () => {
    const result = parse('5039367187\n2125551234,3105550000\r\n\n , ,\n4155552671');
    expect(result.numbers).toEqual([5039367187, 2125551234, 3105550000, 4155552671]);
    expect(result.invalidCount).toBe(0);
    expect(result.entries).toBe(4);
  });

  it('normalises numbers formatted for humans', () => {
    const formats = ['(503) 936-7187', '503-936-7187', '+1 503 936 7187', '1-503-936-7187', '503.936.7187', ' 503 936 7187 ', '15039367187', '+15039367187'];
    const result = parse(formats.join('\n'));
    expect(result.numbers).toEqual(formats.map(() => 5039367187));
    expect(result.invalidCount).toBe(0);
  });

  it('reports everything else as invalid with its line, in order', () => {
    const result = parse('5039367187\n503936718\n25039367187\n1039367187\n5031367187\n503-936-71x7\n503+9367187\n()\n5039367187');
    expect(result.numbers).toEqual([5039367187, 5039367187]);
    expect(result.invalid).toEqual([
      { line: 2, entry: '503936718', reason: 'expected 10 digits, got 9' },
      { line: 3, entry: '25039367187', reason: 'an 11-digit number must start with the country code 1' },
      { line: 4, entry: '1039367187', reason: 'area code (1st digit) must be 2-9' },
      { line: 5, entry: '5031367187', reason: 'exchange (4th digit) must be 2-9' },
      { line: 6, entry: '503-936-71x7', reason: 'contains characters other than digits and ( ) - . + spaces' },
      { line: 7, entry: '503+9367187', reason: 'contains characters other than digits and ( ) - . + spaces' },
      { line: 8, entry: '()', reason: 'expected 10 digits, got 0' },
    ]);
    expect(result.entries).toBe(9);
  });

  it('gives the same result whatever the chunk boundaries', () => {
    const text = '\ufeffphone\n(503) 936-7187\n2125551234,x21255512\n+1 310 555 0000\r\n999\n4155552671';
    const whole = parse(text);
    expect(whole.header).toBe(true);
    expect(whole.numbers).toEqual([5039367187, 2125551234, 3105550000, 4155552671]);
    for (const chunk of [1, 2, 3, 5, 7, 11, 13]) expect(parse(text, {}, chunk)).toEqual(whole);
  });

  it('reads clean 10-digit entries (the fast path) exactly as byte by byte, whatever surrounds them', () => {
    // One-byte chunks never take the 11-byte fast path: they are the reference.
    const entry = fc.oneof(
      fc.constantFrom('5039367187', '2125551234', '9999999999', '2002000000', '1039367187', '5031367187', '503936718',
        '50393671870', '15039367187', '503936718x', '(503) 936-7187', ' 5039367187', '5039367187 ', 'phone', ''),
      fc.stringMatching(/^[0-9]{10}$/),
      fc.stringMatching(/^[0-9+(). a-z-]{0,12}$/),
    );
    const separator = fc.constantFrom('\n', '\r\n', ',');
    const text = fc.array(fc.tuple(entry, separator), { maxLength: 40 }).map((rows) => rows.map(([e, s]) => e + s).join(''));
    fc.assert(
      fc.property(text, fc.integer({ min: 2, max: 40 }), (input, chunkBytes) => {
        const reference = parse(input, {}, 1);
        expect(parse(input)).toEqual(reference);
        expect(parse(input, {}, chunkBytes)).toEqual(reference);
      }),
      { numRuns: 400 },
    );
  });

  it('cuts a huge invalid entry in its report and keeps counting past the kept rows', () => {
    const text = `${'9'.repeat(10_000)}\n${Array.from({ length: 150 }, () => 'bad').join('\n')}`;
    const result = parse(text, {}, 4096);
    expect(result.invalid[0]).toEqual({ line: 1, entry: '9'.repeat(32), reason: 'expected 10 digits, got 10000' });
    expect(result.invalid).toHaveLength(100);
    expect(result.invalidCount).toBe(151);
  });

  it('detects a header only in the first row', () => {
    expect(parse('Phone Number\n5039367187').invalidCount).toBe(0);
    const late = parse('5039367187\nphone');
    expect(late.invalid).toEqual([{ line: 2, entry: 'phone', reason: 'contains characters other than digits and ( ) - . + spaces' }]);
  });
});

describe('NumberParser, CSV and TSV', () => {
  const csv = 'name,phone,note\n"Doe, Jane","(503) 936-7187","says ""hi"""\nBob,212-555-1234,\n"Multi\nline",310 555 0000,x\nAmy,,y\nShort\n';

  it('takes a named column from the header row, honouring quotes and newlines inside them', () => {
    const result = parse(csv, { format: 'csv', column: 'Phone' });
    expect(result.numbers).toEqual([5039367187, 2125551234, 3105550000]);
    expect(result.invalid).toEqual([
      { line: 6, entry: '', reason: 'column 2 is empty' },
      { line: 7, entry: '', reason: 'the row has no column 2' },
    ]);
    for (const chunk of [1, 3, 8]) expect(parse(csv, { format: 'csv', column: 'phone' }, chunk)).toEqual(result);
  });

  it('takes a numbered column and detects its header', () => {
    const result = parse(csv, { format: 'csv', column: 2 });
    expect(result.header).toBe(true);
    expect(result.numbers).toEqual([5039367187, 2125551234, 3105550000]);
  });

  it('reads the first column of TSV by default', () => {
    const result = parse('phone\tname\n5039367187\tA\n"212 555 1234"\tB\nabc\tC\n', { format: 'tsv' });
    expect(result.numbers).toEqual([5039367187, 2125551234]);
    expect(result.invalid).toEqual([{ line: 4, entry: 'abc', reason: 'contains characters other than digits and ( ) - . + spaces' }]);
  });

  it('refuses a column name missing from the header and a column for plain text', () => {
    expect(() => parse(csv, { format: 'csv', column: 'mobile' })).toThrow(/column "mobile" is not in the header row/);
    expect(() => new NumberParser({ format: 'text', column: 2 })).toThrow(/CSV or TSV/);
    expect(() => new NumberParser({ format: 'csv', column: 0 })).toThrow(/whole number from 1/);
  });
});

describe('sortUniqueNumbers', () => {
  it('sorts and de-duplicates like a comparison sort, across small and radix-sized buckets', () => {
    const numbers = new Float64Array(200_000);
    let seed = 7;
    for (let i = 0; i < numbers.length; i++) {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      const area = i % 3 === 0 ? 503 : 200 + (seed % 800);
      numbers[i] = area * 10_000_000 + 2_000_000 + (seed % 8_000_000);
    }
    const expected = Array.from(new Set(numbers)).sort((a, b) => a - b);
    expect(Array.from(sortUniqueNumbers(numbers.slice()))).toEqual(expected);
  });

  it('returns sorted, distinct, valid input as it is', () => {
    const numbers = Float64Array.of(2002000000, 5039367187, 9999999999);
    const sorted = sortUniqueNumbers(numbers);
    expect(sorted.buffer).toBe(numbers.buffer);
    expect(Array.from(sorted)).toEqual([2002000000, 5039367187, 9999999999]);
    expect(Array.from(sortUniqueNumbers(Float64Array.of(5039367187, 5039367187)))).toEqual([5039367187]);
  });

  it('refuses an invalid number, naming its position', () => {
    expect(() => sortUniqueNumbers(Float64Array.of(5039367187, 5031367187))).toThrow(/number 2 of the bulk change/);
    expect(() => sortUniqueNumbers(Float64Array.of(5039367187.5, 5039367187))).toThrow(/number 1/);
    expect(() => sortUniqueNumbers(Float64Array.of(2002000000, 10_002_000_000))).toThrow(/number 2/);
    expect(() => sortUniqueNumbers(Float64Array.of(1992000000, 2002000000))).toThrow(/number 1/);
    // Sorted input is checked as thoroughly as unsorted input.
    expect(() => sortUniqueNumbers(Float64Array.of(2002000000, 5031367187, 5039367187))).toThrow(/number 2/);
    expect(() => sortUniqueNumbers(Float64Array.of(2002000000, 5039367187, 5039367187.5, 5049367187))).toThrow(/number 3/);
    expect(() => sortUniqueNumbers(Float64Array.of(5039999999, 5042000000, 5041999999 + 1e7))).toThrow(/number 3/);
  });
});

describe('NumberSorter (numbers added in batches, as an import parses them)', () => {
  const validNumber = fc.tuple(fc.integer({ min: 200, max: 999 }), fc.integer({ min: 2_000_000, max: 9_999_999 })).map(([area, rest]) => area * 10_000_000 + rest);

  it('returns the distinct numbers of all batches, ascending', () => {
    fc.assert(
      fc.property(fc.array(fc.array(validNumber, { maxLength: 60 }), { maxLength: 8 }), (batches) => {
        const sorter = new NumberSorter();
        for (const batch of batches) sorter.add(Float64Array.from(batch));
        const expected = Array.from(new Set(batches.flat())).sort((a, b) => a - b);
        expect(Array.from(sorter.finish())).toEqual(expected);
      }),
      { numRuns: 200 },
    );
  });

  it('moves a large area to a bitset mid-way without losing or repeating a number', () => {
    // 503 crosses the bitset threshold half-way through the second batch; 212 stays a small array.
    const batch = (from: number, count: number): Float64Array => {
      const numbers = new Float64Array(count);
      for (let i = 0; i < count; i++) numbers[i] = i % 10 === 0 ? 2122000000 + ((from + i) % 5000) : 5039999999 - ((from + i) * 7919) % 7_000_000;
      return numbers;
    };
    const batches = [batch(0, 50_000), batch(40_000, 50_000), batch(0, 1000)];
    const sorter = new NumberSorter();
    for (const numbers of batches) sorter.add(numbers);
    const expected = Array.from(new Set(batches.flatMap((numbers) => Array.from(numbers)))).sort((a, b) => a - b);
    expect(sorter.added).toBe(101_000);
    expect(Array.from(sorter.finish())).toEqual(expected);
  });

  it('splits numbers at area code boundaries exactly', () => {
    const sorter = new NumberSorter();
    sorter.add(Float64Array.of(9999999999, 2109999999, 2102000000, 2099999999, 9992000000, 2002000000));
    expect(Array.from(sorter.finish())).toEqual([2002000000, 2099999999, 2102000000, 2109999999, 9992000000, 9999999999]);
    for (const invalid of [2100000000, 2101999999, 9990000000, 10_002_000_000, 1_999_999_999, 2102000000.5]) {
      expect(() => new NumberSorter().add(Float64Array.of(invalid))).toThrow(/number 1 of the bulk change/);
    }
  });

  it('names an invalid number by its position among all batches', () => {
    const sorter = new NumberSorter();
    sorter.add(Float64Array.of(5039367187, 2125551234));
    expect(() => sorter.add(Float64Array.of(5039367187, 5031367187))).toThrow(/number 4 of the bulk change/);
  });
});
