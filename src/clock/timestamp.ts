/**
 * Hybrid logical clock arithmetic on one number: wall-clock milliseconds times
 * 1024 plus a logical counter. It stays a safe integer until the year 2248 and
 * compares with `<`. More than 1024 events in one millisecond simply run the
 * clock ahead of the wall, as HLC allows.
 */
export const LOGICAL_PER_MS = 1024

/** The next timestamp: above both the last one and the wall clock. */
export const tick = (last: number, wallMs: number): number => {
  const physical = Math.floor(wallMs) * LOGICAL_PER_MS
  return physical > last ? physical : last + 1
}

/** The clock after seeing a timestamp from elsewhere: never behind it. */
export const observe = (last: number, seen: number): number => (seen > last ? seen : last)

/** The wall-clock milliseconds a timestamp was taken at (for people and TTLs). */
export const wallMsOf = (hlc: number): number => Math.floor(hlc / LOGICAL_PER_MS)
