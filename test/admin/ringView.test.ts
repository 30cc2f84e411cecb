import { beforeAll, describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import { ringRanges, ringShares } from "../../src/admin/ringView.js"
import { HashRing } from "../../src/ring/HashRing.js"
import { type Hash32, loadXxHash32 } from "../../src/ring/keyHash.js"

let hash: Hash32
beforeAll(async () => {
  hash = await loadXxHash32()
})
const CIRCLE = 2 ** 32
const ringOf = (members: number, replicas: number, vnodes: number) =>
  HashRing.build(Array.from({ length: members }, (_, i) => `10.0.0.${i + 1}:8080`), { vnodes, replicas, hash })
const lengthOf = (r: { start: number; end: number }) => (r.end > r.start ? r.end - r.start : r.end + CIRCLE - r.start)
/** A hash inside (start, end], across zero when the range wraps. */
const inside = (r: { start: number; end: number }, offset: number) => (r.start + 1 + (offset % lengthOf(r))) % CIRCLE

describe("ringView", () => {
  it("splits the circle into ranges that tile it once, each holding exactly the keys of its preference list", () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 7 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 32 }), fc.nat(), (n, rf, vnodes, offset) => {
        const ring = ringOf(n, rf, vnodes)
        const ranges = ringRanges(ring)
        expect(ranges.reduce((sum, r) => sum + lengthOf(r), 0)).toBe(CIRCLE)
        ranges.forEach((range, i) => {
          // Each range starts where the previous one ends, around the circle.
          expect(range.start).toBe(ranges[(i + ranges.length - 1) % ranges.length]!.end)
          // Merged: neighbours differ.
          expect(range.replicas).not.toEqual(ranges[(i + 1) % ranges.length]!.replicas)
          expect(ring.preferenceList(range.end)).toEqual(range.replicas)
          expect(ring.preferenceList(inside(range, offset))).toEqual(range.replicas)
        })
      }),
      { numRuns: 60 }
    )
  })

  it("gives every member its primary share and a replicated share that add up to the replication factor", () => {
    for (const [n, rf] of [[3, 3], [5, 3], [4, 2], [6, 1]] as const) {
      const ring = ringOf(n, rf, 64)
      const shares = ringShares(ring, ringRanges(ring))
      expect(shares.reduce((sum, s) => sum + s.primaryShare, 0)).toBeCloseTo(1, 9)
      expect(shares.reduce((sum, s) => sum + s.replicaShare, 0)).toBeCloseTo(rf, 9)
      for (const share of shares) {
        expect(share.tokens).toBe(64)
        expect(share.replicaShare).toBeGreaterThanOrEqual(share.primaryShare)
      }
      if (rf === n) for (const share of shares) expect(share.replicaShare).toBeCloseTo(1, 9)
    }
  })

  it("describes a one-member ring as one range over the whole circle", () => {
    const ring = ringOf(1, 3, 16)
    const ranges = ringRanges(ring)
    expect(ranges).toHaveLength(1)
    expect(ranges[0]!.replicas).toEqual(["10.0.0.1:8080"])
    expect(ringShares(ring, ranges)).toEqual([{ address: "10.0.0.1:8080", primaryShare: 1, replicaShare: 1, tokens: 16 }])
  })
})
