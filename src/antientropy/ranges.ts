import { majority } from "../replication/consistency.js"
import type { HashRing } from "../ring/HashRing.js"
import type { RangeSet } from "./ArcTrees.js"
import { FULL_RING, type HashRange, tokenArc } from "../ring/hashRange.js"

/**
 * Pure range arithmetic over rings. Arcs are compared at every token of
 * every ring involved: between two consecutive such points all the rings
 * agree on a single preference list each, and the later point lies in that
 * arc, so checking the points checks every key.
 */

const pointsOf = (rings: ReadonlyArray<HashRing>): Array<number> => {
  const points = new Set<number>()
  for (const ring of rings) for (const token of ring.positions) points.add(token)
  return [...points].sort((a, b) => a - b)
}

/** Whether `member` replicates, on `after`, some key it did not replicate on `before` (or `before` is unknown). */
export const gainsRanges = (before: HashRing | undefined, after: HashRing, member: string): boolean => {
  if (!after.members.includes(member)) return false
  if (before === undefined) return true
  return pointsOf([before, after]).some((point) => after.replicates(member, point) && !before.replicates(member, point))
}

/**
 * The hash ranges `member` replicates on `after` but not on `before`: the
 * arcs between consecutive points of both rings, merged where adjacent.
 */
export const gainedRanges = (before: HashRing, after: HashRing, member: string): Array<HashRange> => {
  const points = pointsOf([before, after])
  const gained: Array<HashRange> = []
  points.forEach((point, i) => {
    if (!after.replicates(member, point) || before.replicates(member, point)) return
    // The arc (previous point, point]; a single point means the whole circle.
    const previous = points[(i + points.length - 1) % points.length]!
    const range = points.length === 1 ? FULL_RING : tokenArc(previous, point)
    const last = gained[gained.length - 1]
    if (last !== undefined && (last.first + last.count) % 2 ** 32 === range.first && last.count + range.count <= 2 ** 32) {
      gained[gained.length - 1] = { first: last.first, count: last.count + range.count }
    } else {
      gained.push(range)
    }
  })
  return gained
}


/**
 * Whether `self`, having applied what the members in `answered` sent (each
 * with its synced ring, undefined when it holds nothing in full), now holds every
 * acknowledged write of every key it replicates on `ring`. A write was
 * acknowledged by a majority of the key's voting replicas; all but one of
 * those may be lost to `self` (its own old copy, after a restart), so per key
 * it needs n - majority(n) + 1 of the other replicas, each counted only if it
 * holds that range in full (only the points `within`, when given: the ranges
 * that were pulled). When every other member of the ring answered
 * (old owners that still hold moved keys included) and still too few hold
 * the range in full, nothing more can be recovered: that counts as done (a
 * new cluster, or nodes joining at the same time into the same range).
 */
export const pullCovers = (
  ring: HashRing,
  self: string,
  answered: ReadonlyMap<string, HashRing | undefined>,
  within?: RangeSet
): boolean => {
  const sourceRings = [...answered.values()].filter((r): r is HashRing => r !== undefined)
  const everyoneAnswered = ring.members.every((member) => member === self || answered.has(member))
  for (const point of pointsOf([ring, ...sourceRings])) {
    const replicas = ring.preferenceList(point)
    if (!replicas.includes(self) || (within !== undefined && !within.has(point))) continue
    const needed = replicas.length - majority(replicas.length) + 1
    let holding = 0
    for (const other of replicas) {
      if (other !== self && answered.get(other)?.replicates(other, point) === true) holding++
    }
    if (holding < needed && !everyoneAnswered) return false
  }
  return true
}
