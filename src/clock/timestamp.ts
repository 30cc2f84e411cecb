/**
 * Hybrid logical clock arithmetic on one number: wall-clock milliseconds times
 * 1024 plus a logical counter. It stays a safe integer until the year 2248 and
 * compares with `<`. More than 1024 events in one millisecond simply run the
 * clock ahead of the wall, as HLC allows. Nodes refuse versions further ahead
 * of their clock than MAX_CLOCK_OFFSET, so the counter cannot be pushed to
 * the end of its range; `tick` still fails loudly rather than wrap or stall.
 */
export const LOGICAL_PER_MS = 1024

/** The next timestamp: above both the last one and the wall clock. */
export const tick = (last: number, wallMs: number): number => {
  const physical = Math.floor(wallMs) * LOGICAL_PER_MS
  const next = physical > last ? physical : last + 1
  if (!Number.isSafeInteger(next)) throw new Error(`hybrid logical clock exhausted at ${last}: wall clock ${wallMs} ms`)
  return next
}

/** The clock after seeing a timestamp from elsewhere: never behind it. */
export const observe = (last: number, seen: number): number => (seen > last ? seen : last)

/** The wall-clock milliseconds a timestamp was taken at (for people and TTLs). */
export const wallMsOf = (hlc: number): number => Math.floor(hlc / LOGICAL_PER_MS)

/** A timestamp for a log line: its wall-clock time, or the raw number when it is no date. */
export const describe = (hlc: number): string => {
  const date = new Date(wallMsOf(hlc))
  return Number.isNaN(date.getTime()) ? String(hlc) : date.toISOString()
}
