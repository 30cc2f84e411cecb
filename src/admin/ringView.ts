import type { HashRange } from "../ring/hashRange.js"
import type { HashRing } from "../ring/HashRing.js"

const CIRCLE = 2 ** 32

/** A run of the hash circle, (start, end], whose keys live on `replicas`. */
export interface RingRangeShape {
  readonly start: number
  readonly end: number
  readonly replicas: ReadonlyArray<string>
}

/** A member's part of the circle. */
export interface RingShare {
  readonly address: string
  readonly primaryShare: number
  readonly replicaShare: number
  readonly tokens: number
}

const sameList = (a: ReadonlyArray<string>, b: ReadonlyArray<string>) => a.length === b.length && a.every((m, i) => m === b[i])

/**
 * The ranges of a ring: each token ends the arc from the previous token,
 * and neighbouring arcs with the same preference list are merged. The
 * first range wraps around zero when the circle does (start > end).
 */
export const ringRanges = (ring: HashRing): Array<RingRangeShape> => {
  const tokens = ring.positions
  const ranges: Array<RingRangeShape> = []
  for (let i = 0; i < tokens.length; i++) {
    const end = tokens[i]!
    const start = tokens[i === 0 ? tokens.length - 1 : i - 1]!
    const replicas = ring.preferenceList(end)
    const last = ranges[ranges.length - 1]
    if (last !== undefined && sameList(last.replicas, replicas)) ranges[ranges.length - 1] = { ...last, end }
    else ranges.push({ start, end, replicas })
  }
  // The last range may continue into the first across zero.
  const first = ranges[0]
  const last = ranges[ranges.length - 1]
  if (ranges.length > 1 && first !== undefined && last !== undefined && sameList(first.replicas, last.replicas)) {
    ranges[0] = { start: last.start, end: first.end, replicas: first.replicas }
    ranges.pop()
  }
  return ranges
}

/** The length of (start, end] on the circle. */
const arcLength = ({ start, end }: RingRangeShape) => (end > start ? end - start : end + CIRCLE - start)

/** Each member's share of the circle as primary and as any replica, and its token count. */
export const ringShares = (ring: HashRing, ranges: ReadonlyArray<RingRangeShape>): Array<RingShare> => {
  const primary = ring.primaryShares()
  const replica = new Map<string, number>(ring.members.map((m) => [m, 0]))
  // A one-member ring has a single range whose start equals its end: the whole circle.
  for (const range of ranges) {
    const length = ranges.length === 1 ? CIRCLE : arcLength(range)
    for (const member of range.replicas) replica.set(member, replica.get(member)! + length / CIRCLE)
  }
  const tokens = ring.size === 0 ? 0 : ring.positions.length / ring.size
  return ring.members.map((address) => ({
    address,
    primaryShare: primary.get(address) ?? 0,
    replicaShare: replica.get(address) ?? 0,
    tokens
  }))
}

/** A hash range as (start, end] for people: start is the hash before the first. */
export const asStartEnd = (range: HashRange): { readonly start: number; readonly end: number } => ({
  start: (range.first + 2 ** 32 - 1) % 2 ** 32,
  end: (range.first + range.count - 1) % 2 ** 32
})
