// Where idnc's parts (the engine, the log, recovery, keys) report operational events. A leaf
// module: every layer names the type without importing any other.

/** Where the engine reports operational events; never given phone numbers or keys. */
export interface EngineLogger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}
