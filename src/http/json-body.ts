// The app's JSON body parser. JSON.parse keeps the last of a repeated key, so
// `{"actionType":"count","actionType":"add"}` would add; a field given twice is INVALID_PARAMETER in
// a query string or a form, and so it is here. The text is parsed natively first (bad syntax is
// BAD_REQUEST), then one pass over its keys refuses a key repeated in an object at any depth, and,
// by name, the keys that could reach a prototype once merged (`__proto__`, `constructor.prototype`),
// as Fastify's own JSON parser refuses them. The body limit bounds both passes.

import type { FastifyInstance } from 'fastify';
import { IdncError, quoteInput } from '../errors.js';
import { HttpError } from './error-replies.js';

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const BYTE_ORDER_MARK = 0xfeff;

/** An object being read: its keys so far, and the key it is the value of (for constructor.prototype). */
interface ObjectFrame {
  readonly keys: Set<string>;
  readonly under: string | undefined;
  /** True after `{` or `,`: the next string is a key. */
  expectsKey: boolean;
  /** The last key read, whose value comes next. */
  lastKey: string | undefined;
}

/** Index of the quote closing the string that opens at `start` (the text is valid JSON). */
function stringEnd(text: string, start: number): number {
  let at = text.indexOf('"', start + 1);
  for (;;) {
    let backslashes = 0;
    while (text.charCodeAt(at - 1 - backslashes) === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return at;
    at = text.indexOf('"', at + 1);
  }
}

function checkKey(frame: ObjectFrame, key: string): void {
  if (frame.keys.has(key)) throw new IdncError('INVALID_PARAMETER', `the JSON body gives ${quoteInput(key)} more than once in one object`);
  if (key === '__proto__' || (key === 'prototype' && frame.under === 'constructor')) {
    throw new IdncError('INVALID_PARAMETER', `the JSON body may not use the key ${quoteInput(key === '__proto__' ? key : 'constructor.prototype')}`);
  }
  frame.keys.add(key);
}

/** Throws INVALID_PARAMETER for a repeated or prototype-reaching key anywhere in valid JSON `text`. */
export function checkJsonKeys(text: string): void {
  // One entry per open object or array (null for an array).
  const open: (ObjectFrame | null)[] = [];
  for (let i = 0; i < text.length; i++) {
    const char = text.charCodeAt(i);
    const frame = open.length === 0 ? null : open[open.length - 1]!;
    if (char === QUOTE) {
      const end = stringEnd(text, i);
      if (frame !== null && frame.expectsKey) {
        const raw = text.slice(i + 1, end);
        const key = raw.includes('\\') ? (JSON.parse(`"${raw}"`) as string) : raw;
        checkKey(frame, key);
        frame.expectsKey = false;
        frame.lastKey = key;
      }
      i = end;
    } else if (char === 0x7b /* { */) {
      open.push({ keys: new Set(), under: frame?.lastKey, expectsKey: true, lastKey: undefined });
    } else if (char === 0x5b /* [ */) {
      open.push(null);
    } else if (char === 0x7d /* } */ || char === 0x5d /* ] */) {
      open.pop();
    } else if (char === 0x2c /* , */ && frame !== null) {
      frame.expectsKey = true;
      frame.lastKey = undefined;
    }
  }
}

/** Replaces Fastify's JSON parser for `application/json` (with any parameters) with the one above. */
export function registerJsonBody(app: FastifyInstance, bodyLimit: number): void {
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string', bodyLimit }, (_request, body, done) => {
    const text = (body as string).charCodeAt(0) === BYTE_ORDER_MARK ? (body as string).slice(1) : (body as string);
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      done(new HttpError('BAD_REQUEST', text.trim() === '' ? 'the JSON body is empty' : 'the request body is not valid JSON'), undefined);
      return;
    }
    try {
      checkJsonKeys(text);
    } catch (error) {
      done(error as Error, undefined);
      return;
    }
    done(null, value);
  });
}
