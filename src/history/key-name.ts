// Who made a change, by name: a history event names the API key by id (the log keeps only that);
// the key's name, when it has one, comes from the key records the asker holds (the server's key
// store, or keys.json read by the CLI), so a key renamed later reads under its current name.

import type { HistoryEvent } from './history-event.js';

/** A key id's name: a string, or null/undefined when the key has none or is unknown. */
export type KeyNameOf = (keyId: string) => string | null | undefined;

/** The event with `keyName` right after `keyId` when the key has a name; otherwise the event itself. */
export function withKeyName(event: HistoryEvent, nameOf: KeyNameOf | undefined): HistoryEvent & { keyName?: string } {
  const name = nameOf?.(event.keyId);
  if (typeof name !== 'string') return event;
  const { seq, at, op, list, projId, keyId, ...rest } = event;
  return { seq, at, op, list, projId, keyId, keyName: name, ...rest };
}
