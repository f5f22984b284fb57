// The public library API of idnc, and nothing else.

export { openDnc, Dnc } from './open.js';
export { DurableDnc } from './open.js';
export type { DurableDncOptions } from './engine/durable-log.js';
export { DncFollower } from './open.js';
export type { DncFollowerOptions, FollowerEvent } from './engine/follower.js';
export type { PersistFileSystem } from './persist/file-system.js';
export type {
  BatchOptions,
  DropListOptions,
  DropResult,
  EngineLogger,
  EngineStats,
  ListEntry,
  ListsOptions,
  ListsPage,
  ListStats,
  OrganisationStats,
  FsyncMode,
  ListOptions,
  OpenDncOptions,
  ReplicateOptions,
  ReplicationAck,
  ReplicationStats,
  FollowOptions,
  ScrubResult,
  StatusEntry,
  WriteOptions,
  WriteResult,
  HistoryOptions,
  HistoryResult,
  HistoryEvent,
  StatusAtResult,
} from './engine/types.js';
export type { BlockingList } from './store/lookup.js';
export type { PhoneListInput, ParsedPhoneList } from './phone/phone-list.js';
export { parsePhone, parsePhoneList } from './phone/phone-list.js';
export { DataCorruptError, IdncError, InvalidPhoneError, ERROR_CATALOGUE } from './errors.js';
export type { ErrorCode, InvalidEntry } from './errors.js';
export type { ChainHead as HistoryHead } from './history/chain.js';
