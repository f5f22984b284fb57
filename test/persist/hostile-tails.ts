// Bytes that make a search for a valid log frame work hard: the shape that made the torn-tail
// search quadratic, shared by its unit test and the recovery test.

/**
 * Plausible frame headers at 3 of every 8 offsets (a length within the limit, a seq 1 to 2^24 in
 * its low 3 bytes, zero above), and at 1 of every 8 a length reaching nearly to the end of `size`:
 * for each of those the plain search checksummed almost the whole rest of the tail.
 */
export function longCandidates(size: number): Buffer {
  const bytes = Buffer.alloc(size);
  for (let at = 2; at < size; at += 8) bytes[at] = Math.max(1, Math.min(255, Math.floor((size - at - 14) / 65_536)));
  return bytes;
}
