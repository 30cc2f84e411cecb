import { beforeAll, describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import { ConfigView, majority, type RingSettings } from "../../src/placement/ConfigView.js"
import { arcsAtRisk, barrierHolds, pullPlan, unavailableArcs } from "../../src/placement/movement.js"
import type { ConfigValue, MemberId, RingConfig } from "../../src/protocol/placement.js"
import { inRange } from "../../src/ring/hashRange.js"
import { member, membersOf, testRingSettings } from "../../testkit/members.js"

let settings: RingSettings
beforeAll(async () => {
  settings = await testRingSettings()
})

const m = member
const members = membersOf
const view = (value: ConfigValue, epoch = 2): ConfigView => ConfigView.build({ epoch, ...value } as RingConfig, settings)
const moving = (previous: ReadonlyArray<MemberId>, next: ReadonlyArray<MemberId>, forced: ReadonlyArray<MemberId> = []) =>
  view({ phase: "writeBoth", members: next, previous, forced })
const stable = (list: ReadonlyArray<MemberId>) => view({ phase: "stable", members: list, previous: [], forced: [] })

/** Random key hashes, to check ranges against the rings key by key. */
const hashes = fc.array(fc.integer({ min: 0, max: 2 ** 32 - 1 }), { minLength: 50, maxLength: 200 })

/** Whether `member` has a pull task covering `hash`. */
const pullsAt = (v: ConfigView, member: MemberId, hash: number) =>
  pullPlan(v, member).some((task) => task.ranges.some((range) => inRange(range, hash)))

describe("pullPlan", () => {
  it.prop("a joiner pulls exactly the keys it replicates on the new ring, from their previous replicas", [hashes], ([sample]) => {
    const v = moving(members(1, 2, 3, 4), members(1, 2, 3, 4, 5))
    for (const hash of sample) {
      expect(pullsAt(v, m(5), hash)).toBe(v.next.replicates(m(5).address, hash))
      const task = pullPlan(v, m(5)).find((t) => t.ranges.some((range) => inRange(range, hash)))
      if (task !== undefined) {
        expect([...task.sources].sort()).toEqual([...v.previous!.preferenceList(hash)].sort())
        expect(task.needed).toBe(2) // any two of three hold every write a majority acknowledged
      }
    }
    // The members that stay hold what they replicate already: nothing to pull.
    for (const member of members(1, 2, 3, 4)) expect(pullPlan(v, member)).toEqual([])
  })

  it.prop("after a removal, each member pulls the keys it gains, and only those", [hashes], ([sample]) => {
    const v = moving(members(1, 2, 3, 4, 5), members(1, 2, 4, 5))
    for (const hash of sample) {
      for (const member of members(1, 2, 4, 5)) {
        const gains = v.next.replicates(member.address, hash) && !v.previous!.replicates(member.address, hash)
        expect(pullsAt(v, member, hash)).toBe(gains)
      }
    }
  })

  it.prop("a new process at an old address pulls everything that address replicates", [hashes], ([sample]) => {
    const v = moving(members(1, 2, 3), [m(1), m(2), m(3, 2)])
    for (const hash of sample) expect(pullsAt(v, m(3, 2), hash)).toBe(true)
    const [task] = pullPlan(v, m(3, 2))
    // Its old process does not count: the other two are the sources, both needed.
    expect([...task!.sources].sort()).toEqual([m(1).address, m(2).address])
    expect(task!.needed).toBe(2)
  })

  it("makes every remaining replica pull when the quorum shrinks so much that an old majority could be missed", () => {
    // Three replicas to one: the one left may have missed a write the other two took.
    const v = moving(members(1, 2, 3), members(1))
    expect(pullPlan(v, m(1))).toEqual([expect.objectContaining({ needed: 2 })])
    // Three to two: any two of the three hold every write; both remaining ones together do.
    expect(pullPlan(moving(members(1, 2, 3), members(1, 2)), m(1))).toEqual([])
  })

  it("pulls from what is left after a forced removal, accepting that writes only the removed held are lost", () => {
    const v = moving(members(1, 2, 3), members(1, 4), members(2, 3))
    const [task] = pullPlan(v, m(4))
    expect(task!.sources).toEqual([m(1).address])
    expect(task!.needed).toBe(1)
  })

  it("is empty outside a movement and for non-members", () => {
    expect(pullPlan(stable(members(1, 2, 3)), m(1))).toEqual([])
    expect(pullPlan(moving(members(1, 2, 3), members(1, 2, 3, 4)), m(9))).toEqual([])
  })
})

describe("barrierHolds", () => {
  it("holds once a majority of every replica set is at the epoch, on both rings of a movement", () => {
    const v = moving(members(1, 2, 3), members(1, 2, 3, 4), [])
    const at = (...ids: ReadonlyArray<number>) => (address: string) => (ids.some((i) => m(i).address === address) ? 2 : 1)
    expect(barrierHolds(v, at(1, 2, 3, 4))).toBe(true)
    expect(barrierHolds(v, at(1))).toBe(false)
    expect(barrierHolds(v, at())).toBe(false)
  })

  it.prop("holds exactly when every key's replica sets have a majority at the epoch", [fc.subarray([1, 2, 3, 4, 5]), hashes], ([at, sample]) => {
    const v = stable(members(1, 2, 3, 4, 5))
    const epochOf = (address: string) => (at.some((i) => m(i).address === address) ? 2 : 0)
    const holds = barrierHolds(v, epochOf)
    const everyKey = sample.every((hash) => {
      const replicas = v.next.preferenceList(hash)
      return replicas.filter((a) => epochOf(a) >= 2).length >= majority(replicas.length)
    })
    if (holds) expect(everyKey).toBe(true)
    if (at.length === 5) expect(holds).toBe(true)
    if (at.length <= 1) expect(holds).toBe(false)
  })

  it("takes members removed by force as fenced", () => {
    const v = stable(members(1, 2, 3))
    const epochOf = (address: string) => (address === m(1).address ? 2 : 0)
    expect(barrierHolds(v, epochOf)).toBe(false)
    expect(barrierHolds(v, epochOf, new Set([m(2).address]))).toBe(true)
  })
})

describe("S4: arcs at risk and unavailable arcs", () => {
  const all = () => true
  let five: ConfigView
  beforeAll(() => {
    five = stable(members(1, 2, 3, 4, 5))
  })
  it("allows removing one dead member of five while the others are reachable", () => {
    const reachable = (a: string) => a !== m(3).address
    expect(arcsAtRisk(five, new Set([m(3).address]), reachable)).toEqual([])
  })

  it("finds the arcs where two of three replicas would be gone", () => {
    const reachable = (a: string) => a !== m(3).address && a !== m(4).address
    const atRisk = arcsAtRisk(five, new Set([m(3).address]), reachable)
    expect(atRisk.length).toBeGreaterThan(0)
    // Exactly the arcs whose replicas include both 3 and 4.
    for (const range of atRisk) {
      const replicas = five.next.preferenceList((range.first + range.count - 1) >>> 0)
      expect(replicas).toEqual(expect.arrayContaining([m(3).address, m(4).address]))
    }
  })

  it("reports nothing unavailable when all answer, and every arc when a majority is gone", () => {
    expect(unavailableArcs(five, all)).toEqual([])
    const three = stable(members(1, 2, 3))
    expect(unavailableArcs(three, (a) => a === m(1).address).length).toBeGreaterThan(0)
    expect(unavailableArcs(three, (a) => a !== m(1).address)).toEqual([])
  })
})
