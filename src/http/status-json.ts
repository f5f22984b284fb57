// The JSON body of a pdnc `status` answer, written by hand: every field comes from a closed set
// (10 ASCII digits, a boolean, "project" | "master" | null), so nothing needs escaping and the
// text is built without JSON.stringify's generic walk over each object (a visible share of a
// one-number status request). Its output is checked against JSON.stringify in the tests.

import { assert, AssertionError } from '../assert.js';
import type { StatusEntry } from '../engine/types.js';

function listJson(list: StatusEntry['list']): string {
  if (list === null) return 'null';
  if (list === 'master') return '"master"';
  if (list === 'project') return '"project"';
  throw new AssertionError(`status entry with an unknown list ${String(list)}`);
}

export function statusJson(entries: readonly StatusEntry[]): string {
  let text = '[';
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i]!;
    assert(entry.phone.length === 10, 'status entry whose phone is not 10 digits');
    text += `${i === 0 ? '' : ','}{"phone":"${entry.phone}","onList":${entry.onList ? 'true' : 'false'},"list":${listJson(entry.list)}}`;
  }
  return `${text}]`;
}
