// Every limit and format constant of idnc, with its unit and the reason for it.
// Names carry units and qualifiers last (`entryDisplayCharsMax`), so a reader never guesses.

/** Digits in a North American (NANP) number: 3 area code + 3 exchange + 4 line. */
export const PHONE_DIGITS = 10;

/** Digits of the area code, the part that selects a bitmap. */
export const AREA_CODE_DIGITS = 3;

/**
 * Area codes are 200-999 (first digit 2-9), so a direct-indexed table of this many slots
 * covers every valid area code with one array access and no hashing.
 */
export const AREA_CODE_SLOTS = 1000;

/** The 7-digit rest (exchange + line) is below this; it is the 32-bit value stored in Roaring. */
export const AREA_REST_MODULUS = 10_000_000;

/** Invalid entries reported in one error: enough to fix a file, bounded so an error stays small. */
export const INVALID_ENTRIES_REPORTED_MAX = 100;

/** An invalid entry is quoted up to this many characters: a 1 MB garbage entry must not echo back. */
export const ENTRY_DISPLAY_CHARS_MAX = 32;

/** Project ids: 1-64 characters of A-Z a-z 0-9 . _ - (the public API's own limits). */
export const PROJECT_ID_CHARS_MAX = 64;
export const PROJECT_ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

/** Organisation ids follow the project id rules: they appear in file names and key records. */
export const ORGANISATION_ID_CHARS_MAX = 64;
export const ORGANISATION_ID_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;

/** The organisation used when the caller names none (the library's single-tenant default). */
export const DEFAULT_ORGANISATION = 'default';

/**
 * Below this many numbers a scrub probes number by number; from here on it builds query bitmaps
 * and intersects them, which wins once the per-call overhead of set operations is amortised
 * (measured by bench/scrub.bench.ts).
 */
export const SCRUB_SET_OPERATIONS_NUMBERS_MIN = 2048;

// --- Durability (src/persist/): file formats, group commit, snapshots, failure handling ---

/** First bytes of every log segment file; the 4 bytes after it hold the format version (u32 LE). */
export const LOG_SEGMENT_MAGIC = 'IDNCLOG1';
/** Segment header: 8 magic + 4 format version + 4 reserved (zero) bytes. */
export const LOG_SEGMENT_HEADER_BYTES = 16;
export const LOG_FORMAT_VERSION = 1;
/** Record header: u32 body length + u32 CRC-32 + u64 seq, all little-endian. */
export const LOG_RECORD_HEADER_BYTES = 16;
/**
 * One record holds at most this many numbers (8 MiB of Float64 body): a bigger change is split into
 * several records of one group commit, so a reader never buffers an unbounded record.
 */
export const LOG_RECORD_NUMBERS_MAX = 1_048_576;
/** A record body longer than this cannot have been written by idnc: the length field is corrupt. */
export const LOG_RECORD_BODY_BYTES_MAX = 16 * 1024 * 1024;
/** A new segment is started once the current one exceeds this size (snapshots remove old ones). */
export const LOG_SEGMENT_BYTES_MAX = 32 * 1024 * 1024;
/** `--fsync interval`: the window of acknowledged changes a power loss may cost. */
export const FSYNC_INTERVAL_MS = 100;
/** Defaults of `--snapshot-interval` and `--snapshot-log-bytes`. */
export const SNAPSHOT_INTERVAL_MS_DEFAULT = 5 * 60 * 1000;
export const SNAPSHOT_LOG_BYTES_DEFAULT = 64 * 1024 * 1024;
/** First bytes of a snapshot file; the last 8 bytes are u32 CRC-32 of all before + SNAPSHOT_END_MAGIC. */
export const SNAPSHOT_MAGIC = 'IDNCSNP1';
export const SNAPSHOT_END_MAGIC = 'IDNE';
export const SNAPSHOT_FORMAT_VERSION = 1;
/** Snapshots kept: the newest and the one before it (recovery falls back to it if the newest is bad). */
export const SNAPSHOTS_KEPT = 2;
/** After a failed append, how often the writer probes whether the disk takes writes again. */
export const STORAGE_PROBE_INTERVAL_MS = 1000;
/** Bytes the probe writes and flushes: one page, enough to see ENOSPC on a full file system. */
export const STORAGE_PROBE_BYTES = 4096;
