// The public library API of idnc, and nothing else.

export { openDnc, Dnc } from './engine.js';
export { DurableDnc } from './durable-dnc.js';
export type { DurableDncOptions } from './durable-dnc.js';
export { DncFollower } from './dnc-follower.js';
export type { DncFollowerOptions, FollowerEvent } from './dnc-follower.js';
export type { PersistFileSystem } from './persist/file-system.js';
export type {
  BatchOptions,
  EngineLogger,
  FsyncMode,
  ListOptions,
  OpenDncOptions,
  ScrubResult,
  StatusEntry,
  WriteOptions,
  WriteResult,
} from './engine.js';
export type { BlockingList } from './store/lookup.js';
export type { PhoneListInput, ParsedPhoneList } from './phone/phone-list.js';
export { parsePhone, parsePhoneList } from './phone/phone-list.js';
export { DataCorruptError, IdncError, InvalidPhoneError, ERROR_CATALOGUE } from './errors.js';
export type { ErrorCode, InvalidEntry } from './errors.js';
