// Where the engine and its parts (log, recovery, keys) report operational events. A leaf module, so
// lower modules (persist/, keys/) can name the type without importing the engine.

/** Where the engine reports operational events; never given phone numbers or keys. */
export interface EngineLogger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}
