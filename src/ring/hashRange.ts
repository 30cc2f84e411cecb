/**
 * `count` consecutive key hashes starting at `first`, wrapping past 2^32 - 1:
 * an arc of the ring. Stated as first + count rather than start/end so that
 * the whole ring (count 2^32) needs no special case.
 */
export interface HashRange {
  readonly first: number
  /** From 1 to 2^32. */
  readonly count: number
}

export const FULL_RING: HashRange = Object.freeze({ first: 0, count: 2 ** 32 })

/**
 * The arc a ring token owns: (previousToken, token], as in `HashRing`. A
 * ring's only token owns the whole circle, given as `FULL_RING` so that it
 * compares equal to every other whole-circle arc.
 */
export const tokenArc = (previousToken: number, token: number): HashRange =>
  previousToken >>> 0 === token >>> 0
    ? FULL_RING
    : { first: (previousToken + 1) >>> 0, count: (token - previousToken) >>> 0 }

/** Whether `hash` lies in `range`. */
export const inRange = (range: HashRange, hash: number): boolean => ((hash - range.first) >>> 0) < range.count

/** Appends `range` to `ranges`, merged with the last one when they touch. */
export const appendRange = (ranges: Array<HashRange>, range: HashRange): void => {
  const last = ranges[ranges.length - 1]
  if (last !== undefined && (last.first + last.count) % 2 ** 32 === range.first && last.count + range.count <= 2 ** 32) {
    ranges[ranges.length - 1] = { first: last.first, count: last.count + range.count }
  } else {
    ranges.push(range)
  }
}
