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

/**
 * Changes an area code's list keeps beside its frozen base before they are merged into a new base.
 * A merge costs one pass over that area's bytes; this bound keeps that under one operation per
 * few thousand changes, and a lookup in the delta (a Map) stays a single hash probe.
 */
export const AREA_DELTA_ENTRIES_MAX = 4096;
/**
 * Array containers (at most 4,096 values of a 65,536-value block) holding at least this many values
 * get a plain 8 KiB bitmap copy for one-access lookups (src/store/portable-bitmap.ts): at most about
 * 43 bits per number of such a container, in exchange for a search of several cache misses. High
 * enough that uniform-random data gets no copies below about 140M numbers (docs/design.md, Lookups).
 */
export const ARRAY_EXPAND_CARDINALITY_MIN = 1536;
/**
 * A list holds at most this many numbers as one sorted array of numbers (8 bytes each, 32 KiB at
 * most: a binary search of 12 steps within L1-L2) before it moves to the probe-table layout, whose
 * fixed cost (a 128 KiB word pool, a 4 KiB probe table, about 4 KiB per area code) only pays for
 * itself past a few thousand numbers. Keeps a million small lists in memory (docs/design.md, Many
 * lists).
 */
export const SORTED_LIST_NUMBERS_MAX = 4096;
/**
 * A list in the probe-table layout moves back to a sorted array once removes bring it to this many
 * numbers or fewer: half the way up, so a list that hovers around SORTED_LIST_NUMBERS_MAX does not
 * rebuild its layout on every change.
 */
export const SORTED_LIST_NUMBERS_RETURN = SORTED_LIST_NUMBERS_MAX / 2;
/**
 * Batches of at least this many numbers are probed in chunks (NumberSet.markChunk: the pool reads
 * of a chunk in a loop of their own); smaller batches number by number. The chunked probe has no
 * set-up cost, so it catches up early: the sweep in bench/scrub.bench.ts (docs/design.md, Scrub).
 */
export const BATCH_CHUNKED_NUMBERS_MIN = 128;
/**
 * Numbers per chunk of the batch probe (NumberSet.markChunk; its scratch is 9 bytes per number,
 * 576 KiB): bigger chunks gain nothing more (docs/design.md, Scrub).
 */
export const BATCH_PROBE_CHUNK_NUMBERS = 65_536;
/**
 * A list's word pool (src/store/word-pool.ts) never shrinks below this many 16-bit words (128 KiB):
 * small lists do not compact on every merge.
 */
export const WORD_POOL_WORDS_MIN = 65_536;
/**
 * Room a pool keeps after a compaction, as a fraction 1/N of its live words: what a list may hold
 * beyond its data (1/8 broke the memory target on uniform data: docs/design.md). Bulk adds reserve
 * their room at once, so growing by compactions is rare.
 */
export const WORD_POOL_SLACK_DIVISOR = 16;
/**
 * An add of at least this many numbers reserves pool room for all of them at once, at this many
 * 16-bit words per number: registry-shaped 100M numbers take 0.8 (portable bytes plus bitmap
 * copies), uniform-random ones about 1.0 (the pool then grows by a compaction or two).
 */
export const POOL_RESERVE_NUMBERS_MIN = 65_536;
export const POOL_WORDS_PER_NUMBER_ESTIMATE = 0.8;

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
/**
 * Recovery and `idnc verify` read a segment in chunks of this many bytes (plus the record that
 * straddles a chunk's end): above a full segment and its last batch, so a normal segment is one
 * read, while a bigger one (a bulk change written past the rotation size) never needs more memory
 * than this + LOG_RECORD_BODY_BYTES_MAX + one record header.
 */
export const LOG_READ_CHUNK_BYTES = 64 * 1024 * 1024;
/** The log writer's reused write buffer (a batch of about 800 single adds); bigger batches allocate. */
export const LOG_WRITE_SCRATCH_BYTES = 64 * 1024;
/** `--fsync interval`: the window of acknowledged changes a power loss may cost. */
export const FSYNC_INTERVAL_MS = 100;
/** Defaults of `--snapshot-interval` and `--snapshot-log-bytes`. */
export const SNAPSHOT_INTERVAL_MS_DEFAULT = 5 * 60 * 1000;
export const SNAPSHOT_LOG_BYTES_DEFAULT = 64 * 1024 * 1024;
/** First bytes of a snapshot file; the last 8 bytes are u32 CRC-32 of all before + SNAPSHOT_END_MAGIC. */
export const SNAPSHOT_MAGIC = 'IDNCSNP1';
export const SNAPSHOT_END_MAGIC = 'IDNE';
/**
 * Version 2 added lists saved in the sorted layout (one item with their numbers); version 3 moved
 * them into one section (a table, then all their numbers), read without an object per list.
 * Versions 1 and 2 still load.
 */
export const SNAPSHOT_FORMAT_VERSION = 3;
export const SNAPSHOT_FORMAT_VERSION_MIN = 1;
/** Snapshots kept: the newest and the one before it (recovery falls back to it if the newest is bad). */
export const SNAPSHOTS_KEPT = 2;
/** First bytes of the durable-seq mark (src/persist/durable-mark.ts); the 1 is its format version. */
export const DURABLE_MARK_MAGIC = 'IDNCDSQ1';
/** One copy of the mark: magic, epoch, base seq, seq (8 bytes each), 4 reserved, CRC-32, within one sector. */
export const DURABLE_MARK_BYTES = 40;
/**
 * Where the mark's second copy, the one flushed before a batch is acknowledged, starts: a sector of
 * its own (disks write 512-byte sectors whole), so writing either copy never tears the other.
 */
export const DURABLE_MARK_FLUSHED_OFFSET = 512;
/** Reads of the mark before a bad checksum counts as damage, not as a rewrite caught half done. */
export const DURABLE_MARK_READ_ATTEMPTS = 5;
/** After a failed append, how often the writer probes whether the disk takes writes again. */
export const STORAGE_PROBE_INTERVAL_MS = 1000;
/** Bytes the probe writes and flushes: one page, enough to see ENOSPC on a full file system. */
export const STORAGE_PROBE_BYTES = 4096;
/** Format version of a rejected-records marker (src/persist/rejected-records.ts). */
export const REJECTED_MARKER_FORMAT_VERSION = 1;
/** A marker is under 200 bytes of JSON: a bigger file is not one idnc wrote, and is not parsed. */
export const REJECTED_MARKER_BYTES_MAX = 4096;

// --- HTTP API and API keys (src/http/, src/keys/, src/cli/config.ts) ---

/** Defaults of `idnc serve` (`--host`, `--port`, `--data-dir`); the data dir is relative to the cwd. */
export const SERVE_HOST_DEFAULT = '127.0.0.1';
export const SERVE_PORT_DEFAULT = 3000;
export const DATA_DIR_DEFAULT = './snapshots';
/** GET URL (path + query) limit, the public API's: about 5,900 numbers. Beyond it: 414. */
export const HTTP_URL_BYTES_MAX = 64 * 1024;
/** Header lines (names + values, without the request line) limit. Beyond it: 431. */
export const HTTP_HEADERS_BYTES_MAX = 16 * 1024;
/**
 * Node counts the request line against its own header limit (`maxHeaderSize`), so it is raised to
 * twice our two limits together: up to there 414/431 are decided exactly from the parsed request,
 * beyond it from the bytes Node hands to the client error handler.
 */
export const HTTP_PARSER_HEADER_BYTES_MAX = 2 * (HTTP_URL_BYTES_MAX + HTTP_HEADERS_BYTES_MAX);
/** Numbers one request may carry (the public API's POST limit); over it TOO_MANY_NUMBERS, nothing touched. */
export const REQUEST_NUMBERS_MAX = 100_000;
/**
 * Body bytes allowed per allowed number: 10 digits + `%2C` is 13, the rest is room for spaces and
 * the other fields. The body limit is `numbers max * this + HTTP_BODY_BYTES_SLACK`.
 */
export const HTTP_BODY_BYTES_PER_NUMBER = 32;
export const HTTP_BODY_BYTES_SLACK = 64 * 1024;
/** A connection that sent a malformed or oversized head may linger this long while its 4xx drains. */
export const HTTP_CLIENT_ERROR_LINGER_MS = 1000;
/** A graceful shutdown waits this long for in-flight requests, then exits non-zero. */
export const SHUTDOWN_GRACE_MS = 30_000;

/** Name of the key file inside the data directory, and its mode (secret-adjacent: owner only). */
export const KEYS_FILE_NAME = 'keys.json';
export const KEYS_FILE_MODE = 0o600;
/**
 * How long a starting writer waits for the writer lock before DATA_DIR_LOCKED: long enough for a
 * holder that was just killed to finish dying, short enough that a second writer hears of the first.
 */
export const WRITER_LOCK_WAIT_MS = 1000;
/** Mode of files idnc creates in a data directory: they hold or describe personal data (owner only). */
export const FILE_MODE_OWNER_ONLY = 0o600;
/** Mode of a data directory idnc creates: only its owner may list or enter it. */
export const DIRECTORY_MODE_OWNER_ONLY = 0o700;
export const KEYS_FILE_FORMAT_VERSION = 1;
/** Random bytes of a key's secret (256 bits; the issue asks for at least 128). */
export const API_KEY_SECRET_BYTES = 32;
/** Random bytes of a key's public id (shown by `keys list`, written in the log as keyId). */
export const API_KEY_ID_BYTES = 6;
/** A running server re-reads the key file this often when it changes (the issue: within a second). */
export const KEYS_RELOAD_POLL_MS = 250;
/** `keys` commands serialise their read-modify-write with a lock file; waiting longer is an error. */
export const KEYS_LOCK_WAIT_MS = 5000;
/** A lock file older than this was left by a crashed command and is taken over. */
export const KEYS_LOCK_STALE_MS = 30_000;
/** Key names follow the project id rules (they are typed on command lines and shown in lists). */
export const KEY_NAME_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;
/** Projects one key may be limited to. */
export const KEY_PROJECTS_MAX = 1000;
/** Organisation of the admin key created on first start. */
export const FIRST_KEY_ORGANISATION = 'default';
/**
 * Key replication through NATS (src/replicate/key-replication.ts): the writer's host and the others
 * check the `<stream>_KEYS` bucket this often (a reader: is its copy current; the writer: retry what
 * it could not publish). Well under the 2 s a key change may take to reach every host.
 */
export const KEY_REPLICATION_CHECK_MS = 500;
/** A host whose copy of the keys was not found current for this long says `stale` in /healthz. */
export const KEY_REPLICATION_STALE_AFTER_MS = 2000;
/** One request to the bucket (a put, a status) gives up after this; the next check tries again. */
export const KEY_REPLICATION_REQUEST_MS = 2000;
/**
 * A check that finds this many entries or fewer missing from the watch reads them one by one; more
 * (a host far behind) starts the watch again, which reads the bucket's current values in one go.
 */
export const KEY_REPLICATION_FETCH_MAX = 64;
/**
 * A host that took the writer lease from another publishes its keys once its copy of the bucket is
 * found caught up, or after this long without (a bucket no writer created yet never catches up):
 * a revoke stays final either way; what the wait protects is a key created just before the takeover.
 */
export const KEY_REPLICATION_TAKEOVER_WAIT_MS = 10_000;

// --- Hardening: slow clients, abuse limits, visibility (src/http/, src/cli/serve.ts) ---

/**
 * A client must send its whole request head within this time, or get 408 and be closed (slowloris).
 * A dialer's head arrives in one packet; 10 s leaves room for a bad mobile link.
 */
export const HTTP_HEADERS_TIMEOUT_MS = 10_000;
/** The whole request, body included, within this time: a 100,000-number body (about 1.3 MB) at 32 KiB/s. */
export const HTTP_REQUEST_TIMEOUT_MS = 60_000;
/** An idle keep-alive connection is closed after this; above the 60 s idle timeout of common load balancers. */
export const HTTP_KEEP_ALIVE_TIMEOUT_MS = 65_000;
/** A connection where no byte moves either way (a client that stopped reading its answer) is closed after this. */
export const HTTP_SOCKET_IDLE_TIMEOUT_MS = 120_000;
/** Node checks the two timeouts above on this period (its default, 30 s, would let a 10 s timeout run to 40 s). */
export const HTTP_TIMEOUT_CHECK_INTERVAL_MS = 1000;
/** Open connections at once; connection N+1 is closed at once. Each costs a file descriptor: raise `ulimit -n` with it. */
export const HTTP_CONNECTIONS_MAX = 4096;
/**
 * Requests one keep-alive connection may carry; its last answer says `Connection: close`. Makes
 * long-lived dialer connections reconnect now and then, so they spread again over the workers.
 */
export const HTTP_REQUESTS_PER_SOCKET_MAX = 10_000;
/** Requests per second one API key may make (a token bucket holding one second's worth); 0 = unlimited. */
export const KEY_RATE_LIMIT_PER_SECOND_DEFAULT = 1000;
/** Highest per-key rate limit `keys create --rate-limit` / `keys set-rate-limit` accept (0 = unlimited is separate). */
export const KEY_RATE_LIMIT_PER_SECOND_MAX = 1_000_000;
/** Failed authentications one client address may make in a burst before it is slowed down. */
export const AUTH_FAILURES_BURST = 20;
/** Failed authentications per second an address earns back (the burst refills at this rate). */
export const AUTH_FAILURES_PER_SECOND = 1;
/** First refusal period for an address out of failures; doubles with each failure while refused. */
export const AUTH_BLOCK_MS_MIN = 1000;
/** Longest refusal period for one address (the doubling stops here). */
export const AUTH_BLOCK_MS_MAX = 5 * 60 * 1000;
/** Client addresses tracked for failed authentication; beyond it the longest-quiet ones are forgotten. */
export const AUTH_TRACKED_ADDRESSES_MAX = 100_000;
/** An incoming `x-request-id` is used (and logged) only if it is this short and of safe characters. */
export const REQUEST_ID_CHARS_MAX = 64;
/** Digits an incoming `x-request-id` may hold: seven could be a local phone number, ten a full one. */
export const REQUEST_ID_DIGITS_MAX = 6;
/** Rounds of percent-decoding before a logged path is masked: a number encoded twice is still found. */
export const LOG_PERCENT_DECODE_ROUNDS_MAX = 4;
/**
 * A request that takes at least this long (ms) is logged at info even when it succeeded and the
 * access log is off: a pdnc request answers in well under a millisecond, so this marks trouble.
 */
export const HTTP_SLOW_REQUEST_MS = 1000;
/**
 * `/metrics` exports one `idnc_list_numbers` series per list while a scrape may see at most this
 * many lists, else only per-organisation series (cardinality bound; `--metrics-max-lists`).
 */
export const METRICS_LIST_SERIES_MAX = 1000;
/** Latency histogram buckets of HTTP requests, in seconds. */
export const METRICS_REQUEST_SECONDS_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10];
/** fdatasync latency buckets, in seconds. */
export const METRICS_FSYNC_SECONDS_BUCKETS = [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];
/** `--metrics-port` listens only here: the metrics it serves need no key. */
export const METRICS_HOST = '127.0.0.1';

// --- Bulk import, export and the streaming scrub (src/bulk/, src/cli/import.ts, src/http/scrub-route.ts) ---

/** A CSV/TSV header row (read whole to find a named column) longer than this is refused. */
export const PARSER_HEADER_BYTES_MAX = 64 * 1024;
/** Numbers one `POST /v1/scrub` stream may carry (`idnc serve --scrub-max-numbers`); beyond, the stream says so and stops. */
export const SCRUB_STREAM_NUMBERS_MAX = 10_000_000;
/**
 * Numbers one `POST /v1/import` request may carry: each request is one atomic durable change the
 * server holds in memory while checking it (8 bytes a number, 8 MiB here), and `idnc import --url`
 * sends batches of this size.
 */
export const BULK_REQUEST_NUMBERS_MAX = 1_000_000;
/** Bytes allowed per number of a bulk request body (digits, separators, human formatting). */
export const BULK_BODY_BYTES_PER_NUMBER = 32;
/** Invalid rows `idnc import` prints with their line numbers (all are counted). */
export const IMPORT_INVALID_SHOWN_MAX = 20;
/** Progress lines of `idnc import` when stderr is not a terminal come this often. */
export const IMPORT_PROGRESS_INTERVAL_MS = 2000;
/** Bytes read from an input file at a time (large reads amortise the per-chunk parser call). */
export const IMPORT_READ_CHUNK_BYTES = 1024 * 1024;
/** Numbers `idnc export` formats into one write (bounds the string it builds). */
export const EXPORT_WRITE_NUMBERS = 65_536;
/**
 * A log record of at least this many numbers (a bulk change) stores them as varint differences,
 * about 1 byte a number instead of 8 (src/persist/number-deltas.ts); smaller ones keep Float64.
 */
export const LOG_RECORD_DELTA_NUMBERS_MIN = 65_536;

// --- Read-only followers and `idnc serve --workers` (src/engine/follower.ts, src/persist/log-tail.ts, src/cli/serve-cluster.ts) ---

/**
 * A follower re-checks the data directory this often even without a file-system event: the
 * fallback when fs.watch misses events (network and shared file systems) and the bound on how long
 * an unnoticed write can stay unapplied.
 */
export const FOLLOWER_POLL_INTERVAL_MS = 50;
/** Default `staleAfterMs`: a follower whose lagMs exceeds it emits 'stale' (a dialer should pause). */
export const FOLLOWER_STALE_AFTER_MS_DEFAULT = 1000;
/** Bytes a follower reads from a segment at once (above the largest record, 16 MiB + header). */
export const FOLLOWER_READ_BYTES_MAX = 64 * 1024 * 1024;
/** Loading snapshot + log while the writer removes files may race; a follower retries this often. */
export const FOLLOWER_LOAD_ATTEMPTS = 5;
/** Pause between those attempts, and between retries of a reload that failed. */
export const FOLLOWER_LOAD_RETRY_MS = 50;
export const FOLLOWER_RELOAD_RETRY_MS = 1000;
/** Longest `waitFor` timeout accepted (Node timers are 32-bit; an hour is beyond any sane wait). */
export const WAIT_FOR_TIMEOUT_MS_MAX = 60 * 60 * 1000;
/** A forwarded write answers only once it is applied where it is read; beyond this: WAIT_TIMEOUT. */
export const CLUSTER_APPLY_WAIT_MS = 5000;
/**
 * `--workers` with replication: a follower worker answers GET /healthz with the writer worker's
 * parts (asked through the primary); a writer worker that does not answer within this long (busy,
 * restarting) gets a follower worker's own answer instead, without them, so a health check never hangs.
 */
export const CLUSTER_HEALTH_WAIT_MS = 1000;
/** `--workers`: at most this many HTTP worker processes. */
export const SERVE_WORKERS_MAX = 64;
/** A worker that dies is restarted after this delay, doubled per quick death up to the max. */
export const WORKER_RESTART_DELAY_MS_MIN = 100;
export const WORKER_RESTART_DELAY_MS_MAX = 10_000;
/** A worker that ran this long before dying is restarted after the minimum delay again. */
export const WORKER_STABLE_AFTER_MS = 30_000;
/**
 * `--workers`: a key's rate-limit bucket lives in the primary; the workers together hold at most
 * this fraction of its per-second limit in tokens taken ahead of use (split evenly between them),
 * so the server as a whole never passes more than the bucket allows plus this much. Small enough to
 * keep the limit within 10 %; at 1,000/s and 2 workers it is 25 tokens a worker, one round trip to
 * the primary per dozen requests, taken before the stock runs out (docs/http-api.md, Rate limits).
 */
export const CLUSTER_RATE_LEASE_FRACTION = 0.05;

// --- Finding and dropping lists (src/store/sorted-names.ts, Dnc.lists, GET /v1/lists, /metrics) ---

/**
 * Project ids an organisation keeps per block of its sorted index (sorted-names.ts): a new list
 * costs a binary search and a splice of at most this many references (4 KiB), and a page after a
 * name a binary search, where one sorted array would move every id on each new list.
 */
export const LIST_NAMES_BLOCK_MAX = 512;
/** Lists one page of `Dnc.lists` / `GET /v1/lists` holds at most: a page is built per request. */
export const LISTS_PAGE_LIMIT_MAX = 1000;
/** Lists per page when the caller gives no `limit`. */
export const LISTS_PAGE_LIMIT_DEFAULT = 100;
/**
 * Business days within which a do-not-call request must be honoured (47 CFR 64.1200(d)(3)): the
 * request report flags an add that took effect later.
 */
export const REQUEST_HONOUR_BUSINESS_DAYS_MAX = 10;

/** Snapshot bytes buffered before one write call. */
export const SNAPSHOT_WRITE_CHUNK_BYTES = 4 * 1024 * 1024;
/**
 * Snapshot bytes written after which an fdatasync starts behind the writes (one at a time): the
 * disk works while the rest is produced and writeback never stalls a write (docs/design.md).
 */
export const SNAPSHOT_FLUSH_BEHIND_BYTES = 16 * 1024 * 1024;
/** Bytes of lists in the sorted layout read by one call when loading a snapshot. */
export const SNAPSHOT_READ_CHUNK_BYTES = 8 * 1024 * 1024;
/**
 * Bytes per read of a snapshot's sorted section: each is checksummed, then checked list by list,
 * while it is still in cache, and while the next ones are read.
 */
export const SORTED_LOAD_CHUNK_BYTES = 1024 * 1024;

// --- Compliance history (src/history/, docs/history.md) ---

/** `source` of a change: a short token naming how the consumer asked (agent, ivr, sms, web, ...), 1 to this many of a-z 0-9 _ -. */
export const HISTORY_SOURCE_CHARS_MAX = 32;
/** `reason` of a change: free text, in characters (UTF-16 units); stored as given, never logged. */
export const HISTORY_REASON_CHARS_MAX = 200;
/**
 * `requestedAt` may be ahead of the server's clock by at most this many ms (a client's clock
 * drifts); beyond it the time is refused, since a request cannot be made in the future.
 */
export const HISTORY_REQUESTED_AT_AHEAD_MS_MAX = 5 * 60_000;
/**
 * Bytes of an evidence file `idnc verify-evidence` reads (whole, as JSON): the head's segment part
 * is 67 bytes a record, so a full 32 MiB segment of single adds is about 27 MB; a file beyond this
 * is refused rather than parsed.
 */
export const EVIDENCE_FILE_BYTES_MAX = 256 * 1024 * 1024;
/**
 * `name` of a bulk import's input in its history event (a file's base name, 'stdin', or the name an
 * upload gives), in characters: a file name is at most 255 bytes on common file systems; several
 * files are named together, cut at this length (their SHA-256 still covers every byte).
 */
export const HISTORY_IMPORT_NAME_CHARS_MAX = 1024;
/**
 * How long log segments stay in `history/` after a snapshot covers them: 5 years (47 CFR
 * 64.1200(d)(6); 16 CFR 310.5 since 2024), as 5 x 365.25 days in ms. Shorter is allowed, with a
 * warning at every start.
 */
export const HISTORY_RETENTION_MS_DEFAULT = 5 * 365.25 * 24 * 3_600_000;
/**
 * An archived segment pack (history/pack-*.idncpack, docs/history.md) holds the closed segments of
 * one UTC day, closed early once its members reach this many bytes: one file a day keeps the
 * listing of five years near 2,000 names, and a pack is written in one pass held in memory.
 */
export const HISTORY_PACK_BYTES_MAX = 32 * 1024 * 1024;
/**
 * A record with at most this many numbers is indexed in its pack number by number (8 bytes each);
 * a larger one by the range of its numbers (an import's records are sorted and disjoint), so an
 * import's index is a few bytes a record instead of a bitmap as large as its log bytes.
 */
export const HISTORY_PACK_KEYED_NUMBERS_MAX = 16;
/**
 * A pack's time table has an entry (8 bytes) at each member's first record and every this many
 * records after: statusAt maps a time to a seq by a binary search and one read of at most this
 * many records (about 11 KB of single changes).
 */
export const HISTORY_PACK_TIME_BLOCK_RECORDS = 64;
/**
 * A bulk record's varint deltas are indexed in its pack every this many numbers (12 bytes each,
 * 3 KB for a record of 1,048,576): a lookup scans at most this many deltas, about 20 µs, instead of
 * the record's million (about 2 ms).
 */
export const HISTORY_PACK_DELTA_BLOCK_NUMBERS = 4096;
/**
 * Packs one pass writes at most (a pass runs at every open and after every snapshot): a directory
 * an earlier version left with years of loose segments is packed a month per pass, instead of
 * holding the first start for minutes (1,286 packs took 277 s in the history bench, unflushed).
 */
export const HISTORY_PACK_PASS_PACKS_MAX = 32;
/**
 * Records the walk of the hash chain hashes between two turns of the event loop (about 0.2 ms of
 * CPU at 5-6 µs a record): a writer sharing the thread needs about six turns per group commit, so
 * while a snapshot walked 550,000 records, 64 concurrent writers got through 45,000-53,000 adds/s
 * (tmpfs), against about 1,000/s when a whole 256 KiB read (10-20 ms) was hashed per turn.
 */
export const HISTORY_CHAIN_WALK_RECORDS_PER_TURN = 32;
/**
 * Pack indices a listing reads at a time (files open at once): the first history query of a
 * process reads every pack's index, about 2,000 over five years, and read one after another it
 * waited on each file call in turn (docs/history.md).
 */
export const HISTORY_PACK_INDEX_READS_MAX = 8;
// --- Replication through NATS JetStream (src/replicate/, docs/replication.md) ---

/** `--replicate-stream` default: the JetStream stream a writer publishes its log to. */
export const REPLICATION_STREAM_DEFAULT = 'IDNC';
/** `--replicate-replicas` default: an R3 stream survives the loss of one NATS node. */
export const REPLICATION_REPLICAS_DEFAULT = 3;
/** Most replicas JetStream allows for a stream. */
export const REPLICATION_REPLICAS_MAX = 5;
/**
 * How long one publish of a record waits for its JetStream acknowledgement before it is sent again
 * (the same msgID: the stream keeps one copy). A stream leader lost with its node is replaced within
 * a few seconds; each attempt is far above a healthy acknowledgement (about 1 ms on a LAN).
 */
export const REPLICATION_PUBLISH_ATTEMPT_MS = 2000;
/** Pause before a failed publish is retried (no responders while a stream leader is elected). */
export const REPLICATION_RETRY_MS = 250;
/**
 * Under `--replicate-ack quorum`, how long a client waits for the stream to take its change before
 * it is answered REPLICATION_UNAVAILABLE "may or may not be stored" (the writer keeps publishing
 * the change and applies it once the stream has it): long enough for a NATS leader election.
 */
export const REPLICATION_ACK_WAIT_MS = 5000;
/** Records a writer publishes (or a lagging writer reads back to publish) in one pipelined run. */
export const REPLICATION_PUBLISH_RUN_RECORDS_MAX = 1024;
/** Snapshot objects kept in `<stream>_SNAPSHOTS`: the newest and the one before (a follower may be loading it). */
export const REPLICATION_SNAPSHOTS_KEPT = 2;
/**
 * How often a follower of a stream asks for the stream's last seq when no record arrives: the
 * bound on how long a quiet follower takes to call itself current again (lagMs).
 */
export const REPLICA_CHECK_INTERVAL_MS = 200;
/**
 * How often a follower of a stream reads the writer lease to name the writer (the `idnc-leader`
 * header): a client is pointed at a new writer within about a second of its takeover, without a
 * read every REPLICA_CHECK_INTERVAL_MS from every follower of a fleet.
 */
export const REPLICA_LEADER_CHECK_MS = 1000;
/**
 * A follower of a stream whose consumer delivers nothing for this long while the stream holds
 * records past it consumes again from its next seq: far above a delivery under load (ms), short
 * enough that a consumer lost to a full NATS restart costs seconds of lag, not minutes.
 */
export const REPLICA_STALL_MS = 2000;
/**
 * Messages a follower of a stream asks its consumer for at once (the next pull goes out when a
 * quarter of them are applied): the client holds at most this many, each at most the NATS server's
 * max_payload (1 MiB by default; an ordinary add is about 100 bytes). The client's default of 100
 * keeps at most 100 in flight, at most 100 records per pull round trip: on a loaded host the
 * follower held all 100 while the stream had hundreds more waiting for it (docs/replication.md).
 */
export const REPLICA_PULL_MESSAGES_MAX = 512;
/**
 * Bytes of a log segment a writer reads at once to publish records the stream lacks: a run of
 * REPLICATION_PUBLISH_RUN_RECORDS_MAX ordinary records fits (about 100 bytes each); a larger
 * record doubles it as needed.
 */
export const REPLICATION_READ_WINDOW_BYTES = 1024 * 1024;
/**
 * `--lease-ms` default: how long a writer's lease lasts without renewal (renewed every third of
 * it). A standby takes over at most about this long after the writer died; shorter makes a busy or
 * briefly paused writer step down for nothing.
 */
export const REPLICATION_LEASE_MS_DEFAULT = 3000;
/** The shortest lease accepted: renewals every third of it must not flood NATS. */
export const REPLICATION_LEASE_MS_MIN = 300;
