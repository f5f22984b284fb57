// Who is calling and what they may do. The key comes from the `loginId` header (the public API's
// name); unknown, revoked and malformed keys get the same INVALID_API_KEY. Scopes: read covers
// status, count and listing lists, write covers add and remove, admin everything (dropping a list
// needs it). A key limited to projects may act only on those projects, never on the master list.

import type { IncomingHttpHeaders } from 'node:http';
import type { KeyRecord, Scope } from '../keys/key-records.js';
import type { KeyStore } from '../keys/key-store.js';
import { HttpError } from './error-replies.js';
import type { Action } from './pdnc-params.js';

const SCOPE_OF: Record<Action, Scope> = { add: 'write', remove: 'write', count: 'read', status: 'read' };

export function authenticate(headers: IncomingHttpHeaders, keys: Pick<KeyStore, 'authenticate'>): KeyRecord {
  const header = headers.loginid;
  if (header === undefined || header === '') {
    throw new HttpError('MISSING_API_KEY', 'an API key is required in the loginId header');
  }
  const record = typeof header === 'string' ? keys.authenticate(header.trim()) : undefined;
  if (record === undefined) throw new HttpError('INVALID_API_KEY', 'the API key in the loginId header is not valid');
  return record;
}

export function authorise(key: KeyRecord, action: Action, projId: string): void {
  authoriseScope(key, SCOPE_OF[action], action, projId);
}

/**
 * `key` may do `what`, which needs scope `needed` (admin covers read, write and admin), on the list
 * `projId` ('' the master list; null: no one list, the route limits what the key sees itself).
 */
export function authoriseScope(key: KeyRecord, needed: Scope, what: string, projId: string | null): void {
  if (!key.scopes.includes(needed) && !key.scopes.includes('admin')) {
    throw new HttpError('FORBIDDEN', `this API key may not ${what}: it lacks the ${needed} scope`);
  }
  if (key.projects === undefined || projId === null) return;
  if (projId === '') {
    throw new HttpError('FORBIDDEN', 'this API key is limited to projects and may not use the master list; give projId');
  }
  if (!key.projects.includes(projId)) {
    throw new HttpError('FORBIDDEN', `this API key may not use project ${JSON.stringify(projId)}`);
  }
}
