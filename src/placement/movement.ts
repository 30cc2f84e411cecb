import type { MemberId } from "../protocol/placement.js"
import { appendRange, FULL_RING, type HashRange, tokenArc } from "../ring/hashRange.js"
import type { HashRing } from "../ring/HashRing.js"
import { type ConfigView, majority, sourcesNeeded } from "./ConfigView.js"

/**
 * Pure rules about ranges of a configuration: what a member must pull before
 * reads may use it, when an older epoch can no longer form a quorum, and
 * which ranges lack a reachable majority. Arcs are compared at every token
 * of every ring involved: between two consecutive such points every ring has
 * one preference list, and the later point lies in that arc, so checking the
 * points checks every key.
 */

/** Every token of these rings, ascending, without repeats. */
export const pointsOf = (rings: ReadonlyArray<HashRing>): Array<number> => {
  const points = new Set<number>()
  for (const ring of rings) for (const token of ring.positions) points.add(token)
  return [...points].sort((a, b) => a - b)
}

const ringsOf = (view: ConfigView): Array<HashRing> => (view.previous === undefined ? [view.next] : [view.previous, view.next])

/** The arc that ends at points[i]: (previous point, point]; a single point is the whole circle. */
const arcAt = (points: ReadonlyArray<number>, i: number): HashRange =>
  points.length === 1 ? FULL_RING : tokenArc(points[(i + points.length - 1) % points.length]!, points[i]!)

/** Ranges a member must copy, from whom, and from how many of them. */
export interface PullTask {
  readonly ranges: ReadonlyArray<HashRange>
  /** Replicas of these ranges on the previous ring that count (this member included when it is one). */
  readonly sources: ReadonlyArray<string>
  /** How many of `sources` must have answered, this member's own copy counting when it is a source. */
  readonly needed: number
}

/**
 * What `self` must pull during a movement (`writeBoth`) before reads may use
 * the new ring: every arc where it replicates keys on the new ring but its
 * copy is not one of the previous ring's counted replicas (it joined, gained
 * the range, or is a new generation at an old address), and every arc whose
 * quorum shrinks so much that a new-ring majority of old replicas could miss
 * a previous-ring majority (fewer members than REPLICATION_FACTOR). Arcs
 * with the same sources are grouped. Empty when there is nothing to pull.
 */
export const pullPlan = (view: ConfigView, self: MemberId): ReadonlyArray<PullTask> =>
  view.phase !== "writeBoth" || !view.isMember(self) ? [] : view.memoized(`pull:${self.address}/${self.generation}`, () => computePullPlan(view, self))

const computePullPlan = (view: ConfigView, self: MemberId): Array<PullTask> => {
  const points = pointsOf(ringsOf(view))
  const tasks = new Map<string, { ranges: Array<HashRange>; sources: ReadonlyArray<string>; needed: number }>()
  points.forEach((point, i) => {
    const next = view.next.preferenceList(point)
    if (!next.includes(self.address)) return
    const previousAll = view.previous!.preferenceList(point)
    const counted = view.writeGroups(point)[0]!
    const holdsAlready = counted.includes(self.address) && view.isCurrent(self)
    const shrinks = majority(next.length) + majority(previousAll.length) <= previousAll.length
    if (holdsAlready && !shrinks) return
    if (counted.length === 0) return // every old replica was removed by force: nothing left to copy
    // A member removed by force leaves fewer to ask: as many as remain, at most what a full set needs.
    const needed = Math.min(sourcesNeeded(previousAll.length), counted.length)
    const sources = [...counted].sort()
    const id = `${sources.join(",")}|${needed}`
    let task = tasks.get(id)
    if (task === undefined) tasks.set(id, task = { ranges: [], sources, needed })
    appendRange(task.ranges, arcAt(points, i))
  })
  return [...tasks.values()]
}

/**
 * Whether every replica set of `view` (per key: the new ring's, and the
 * previous ring's counted one during a movement) has a majority of members
 * known to be at `view.epoch` or later. Then no operation routed with an
 * older epoch can gather a quorum any more: the configuration before
 * `view`'s uses, per key, one of these sets for every read and write, and
 * replicas refuse operations from epochs older than theirs. The leader
 * waits for this before proposing the next configuration, so at most two
 * adjacent configurations are ever in use at once. Members in `gone` (removed
 * by force) count as fenced.
 */
export const barrierHolds = (
  view: ConfigView,
  epochOf: (address: string) => number,
  gone: ReadonlySet<string> = new Set()
): boolean => {
  // Members an operator removed by force are taken at their word: gone for good, never to answer.
  const atEpoch = (address: string) => gone.has(address) || epochOf(address) >= view.epoch
  for (const point of pointsOf(ringsOf(view))) {
    for (const group of view.writeGroups(point)) {
      if (group.length === 0) continue
      let count = 0
      for (const address of group) if (atEpoch(address)) count++
      if (count < majority(group.length)) return false
    }
  }
  return true
}

/** An arc whose keys cannot reach a quorum, and why. */
export interface UnavailableArc {
  readonly range: HashRange
  readonly replicas: ReadonlyArray<string>
  readonly unreachable: ReadonlyArray<string>
}

/**
 * Arcs of `view` where some replica set a request needs has no reachable
 * majority (from one node's failure detector): QUORUM requests on their keys
 * fail with UNAVAILABLE until enough of those members return (or an operator
 * removes them by force).
 */
export const unavailableArcs = (view: ConfigView, reachable: (address: string) => boolean): Array<UnavailableArc> => {
  const points = pointsOf(ringsOf(view))
  const arcs: Array<UnavailableArc> = []
  points.forEach((point, i) => {
    for (const group of view.writeGroups(point)) {
      const unreachable = group.filter((address) => !reachable(address))
      if (group.length - unreachable.length < majority(group.length)) {
        arcs.push({ range: arcAt(points, i), replicas: group, unreachable })
        return
      }
    }
  })
  return arcs
}

/**
 * S4: arcs of a stable configuration where removing `removing` would leave
 * fewer than a reachable majority of the key's replicas, so that the members
 * taking over could not be sure to copy every acknowledged write. Removal is
 * automatic only when this is empty; otherwise only by force, and these arcs
 * are then the ones that may have lost writes.
 */
export const arcsAtRisk = (view: ConfigView, removing: ReadonlySet<string>, reachable: (address: string) => boolean): Array<HashRange> => {
  const points = pointsOf([view.next])
  const arcs: Array<HashRange> = []
  points.forEach((point, i) => {
    const replicas = view.next.preferenceList(point)
    if (!replicas.some((address) => removing.has(address))) return
    const live = replicas.filter((address) => !removing.has(address) && reachable(address)).length
    if (live < majority(replicas.length)) appendRange(arcs, arcAt(points, i))
  })
  return arcs
}

/** The share of the hash circle some ranges cover. */
export const shareOf = (ranges: ReadonlyArray<HashRange>): number => ranges.reduce((sum, range) => sum + range.count, 0) / 2 ** 32
