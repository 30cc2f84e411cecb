import { beforeAll, describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import { RangeSet } from "../../src/antientropy/ArcTrees.js"
import { gainedRanges, gainsRanges, pullCovers } from "../../src/antientropy/ranges.js"
import { HashRing } from "../../src/ring/HashRing.js"
import { type Hash32, loadXxHash32 } from "../../src/ring/keyHash.js"

let hash: Hash32
beforeAll(async () => {
  hash = await loadXxHash32()
})
const VNODES = 32
const ringOf = (members: ReadonlyArray<string>, replicas = 3) => HashRing.build(members, { vnodes: VNODES, replicas, hash })
const node = (i: number) => `10.1.0.${i}:8080`
const sampleHashes = Array.from({ length: 4000 }, (_, i) => (Math.imul(i + 1, 2654435761) >>> 0))

/** Brute force over sampled key hashes: does `member` replicate some key on `after` it did not on `before`? */
const gainsSampled = (before: HashRing, after: HashRing, member: string) =>
  sampleHashes.some((h) => after.replicates(member, h) && !before.replicates(member, h))

describe("gainsRanges", () => {
  const clusterArb = fc.record({
    size: fc.integer({ min: 1, max: 7 }),
    replicas: fc.integer({ min: 1, max: 3 }),
    changed: fc.nat()
  })

  it("on a join, no old member gains a range and the joiner does", () => {
    fc.assert(fc.property(clusterArb, ({ size, replicas, changed }) => {
      const members = Array.from({ length: size }, (_, i) => node(i))
      const joiner = node(100 + (changed % 50))
      const before = ringOf(members, replicas)
      const after = ringOf([...members, joiner], replicas)
      for (const member of members) expect(gainsRanges(before, after, member)).toBe(false)
      expect(gainsRanges(before, after, joiner)).toBe(true)
    }), { numRuns: 60 })
  })

  it("on a leave, every member that takes over some of its keys gains, and the leaver gains nothing", () => {
    fc.assert(fc.property(clusterArb, ({ size, replicas, changed }) => {
      const members = Array.from({ length: size + 1 }, (_, i) => node(i))
      const leaver = members[changed % members.length]!
      const before = ringOf(members, replicas)
      const after = ringOf(members.filter((m) => m !== leaver), replicas)
      for (const member of members.filter((m) => m !== leaver)) {
        // Sampling can only miss a gain, never invent one: a sampled gain must be found.
        if (gainsSampled(before, after, member)) expect(gainsRanges(before, after, member)).toBe(true)
      }
      expect(gainsRanges(before, after, leaver)).toBe(false)
    }), { numRuns: 60 })
  })

  it("lists as gained ranges exactly the hashes a member replicates after a change and not before", () => {
    fc.assert(fc.property(clusterArb, fc.boolean(), ({ size, replicas, changed }, join) => {
      const members = Array.from({ length: size + 1 }, (_, i) => node(i))
      const other = join ? node(200) : members[changed % members.length]!
      const before = ringOf(members, replicas)
      const after = ringOf(join ? [...members, other] : members.filter((m) => m !== other), replicas)
      for (const member of after.members) {
        const gained = new RangeSet(gainedRanges(before, after, member))
        const points = [...sampleHashes, ...before.positions, ...after.positions, ...[...after.positions].map((t) => (t + 1) >>> 0)]
        for (const h of points) expect(gained.has(h)).toBe(after.replicates(member, h) && !before.replicates(member, h))
      }
    }), { numRuns: 40 })
  })

  it("counts everything as gained when nothing was held in full yet", () => {
    expect(gainsRanges(undefined, ringOf([node(1), node(2)]), node(1))).toBe(true)
    expect(gainsRanges(undefined, ringOf([node(1), node(2)]), node(3))).toBe(false)
  })
})

describe("pullCovers", () => {
  const three = [node(1), node(2), node(3)]
  it("needs both other replicas of three, when they hold their ranges in full", () => {
    const ring = ringOf(three)
    const synced = new Map(three.map((m) => [m, ringOf(three)] as const))
    expect(pullCovers(ring, node(3), synced)).toBe(true)
    expect(pullCovers(ring, node(3), new Map([[node(1), ringOf(three)]]))).toBe(false)
  })

  it("accepts what there is when every other replica answered but none holds the range (a new cluster)", () => {
    const ring = ringOf(three)
    expect(pullCovers(ring, node(3), new Map([[node(1), undefined], [node(2), undefined]]))).toBe(true)
  })

  it("does not count a source for ranges it is itself still pulling", () => {
    const five = [...three, node(4), node(5)]
    const ring = ringOf(five)
    // node(5) answered with the three-node ring as its synced one: on the five-node ring it may
    // replicate arcs it did not hold then, so it counts only where it held them; with node(4) silent
    // some arc of node(1) lacks a second full source.
    const answered = new Map([[node(2), ringOf(five)], [node(3), ringOf(five)], [node(5), ringOf(three)]])
    expect(pullCovers(ring, node(1), answered)).toBe(false)
    answered.set(node(4), ringOf(five))
    expect(pullCovers(ring, node(1), answered)).toBe(true)
  })

  it("on five nodes, survives one silent member only where the others suffice", () => {
    const five = [node(1), node(2), node(3), node(4), node(5)]
    const ring = ringOf(five)
    const all = new Map(five.map((m) => [m, ringOf(five)] as const))
    expect(pullCovers(ring, node(1), all)).toBe(true)
    all.delete(node(2))
    // Some arc of node(1) has node(2) among its two other replicas, and both are needed.
    expect(pullCovers(ring, node(1), all)).toBe(false)
  })
})
