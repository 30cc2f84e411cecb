import { beforeAll, describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import { ArcTrees, leafRange } from "../../src/antientropy/ArcTrees.js"
import { RangeSet } from "../../src/ring/rangeSet.js"
import { digestEquals, entryDigest, MerkleTree } from "../../src/antientropy/MerkleTree.js"
import type { HashRange } from "../../src/ring/hashRange.js"
import { HashRing } from "../../src/ring/HashRing.js"
import { type Hash32, loadXxHash32 } from "../../src/ring/keyHash.js"

let hash: Hash32
beforeAll(async () => {
  hash = await loadXxHash32()
})
const members = ["10.2.0.1:8080", "10.2.0.2:8080", "10.2.0.3:8080", "10.2.0.4:8080"]
const ringOf = () => HashRing.build(members, { vnodes: 16, replicas: 3, hash })
const v = (hlc: number) => ({ hlc, nodeId: 1, generation: 1 })

const rangeArb: fc.Arbitrary<HashRange> = fc.record({
  first: fc.nat({ max: 2 ** 32 - 1 }),
  count: fc.integer({ min: 1, max: 2 ** 32 })
})

describe("leafRange", () => {
  it("is the inverse of leafOf: a leaf's range holds exactly the hashes placed in that leaf", () => {
    fc.assert(fc.property(rangeArb, fc.integer({ min: 0, max: 8 }), fc.nat(), (range, depth, pick) => {
      const tree = new MerkleTree(depth, range)
      const leaf = pick % tree.leafCount
      const { first, count } = leafRange(tree, leaf)
      if (count === 0) return // a range narrower than the leaves leaves some empty
      expect(tree.leafOf(first)).toBe(leaf)
      expect(tree.leafOf((first + count - 1) >>> 0)).toBe(leaf)
      const offsetEnd = ((first - range.first) >>> 0) + count // offset just past the leaf, in the tree's range
      // The next hash in the tree's range belongs to a later leaf (leaves between may be empty).
      if (offsetEnd < range.count) expect(tree.leafOf((first + count) >>> 0)).toBeGreaterThan(leaf)
    }))
  })
})

describe("RangeSet", () => {
  it("agrees with a linear scan, wrapping ranges included", () => {
    fc.assert(fc.property(fc.array(rangeArb, { maxLength: 6 }), fc.array(fc.nat({ max: 2 ** 32 - 1 }), { maxLength: 50 }), (ranges, hashes) => {
      const set = new RangeSet(ranges)
      for (const h of [...hashes, ...ranges.map((r) => r.first), ...ranges.map((r) => (r.first + r.count) >>> 0)]) {
        const linear = ranges.some(({ first, count }) => ((h - first) >>> 0) < count)
        expect(set.has(h)).toBe(linear)
      }
    }))
  })
})

describe("ArcTrees", () => {
  it("has a tree for exactly the arcs the member replicates, and sharedWith lists the common ones", () => {
    const ring = ringOf()
    const trees = new ArcTrees(ring, members[0]!)
    for (const token of ring.positions) expect(trees.tree(token) !== undefined).toBe(ring.replicates(members[0]!, token))
    for (const arc of trees.sharedWith(members[1]!)) expect(ring.replicates(members[1]!, arc)).toBe(true)
  })

  it("finds, root then leaves, exactly the leaves of the keys two replicas disagree on", () => {
    fc.assert(fc.property(
      fc.uniqueArray(fc.string({ minLength: 1, maxLength: 10 }), { minLength: 1, maxLength: 200 }),
      fc.array(fc.nat(), { maxLength: 10 }),
      (keys, changedPicks) => {
        const ring = ringOf()
        const [a, b] = [new ArcTrees(ring, members[0]!), new ArcTrees(ring, members[0]!)]
        for (const key of keys) {
          const digest = entryDigest(key, v(1), false)
          a.update(hash(key), undefined, digest)
          b.update(hash(key), undefined, digest)
        }
        const changed = new Set(changedPicks.map((p) => keys[p % keys.length]!))
        for (const key of changed) b.update(hash(key), entryDigest(key, v(1), false), entryDigest(key, v(2), false))
        const expected = new Set(
          [...changed].filter((key) => ring.replicates(members[0]!, hash(key))).map((key) => {
            const arc = a.arcOf(hash(key))
            return `${arc}/${a.tree(arc)!.leafOf(hash(key))}`
          })
        )
        const found = new Set<string>()
        for (const arc of a.sharedWith(members[0]!)) {
          const [mine, theirs] = [a.tree(arc)!, b.tree(arc)!]
          if (digestEquals(mine.root(), theirs.root())) continue
          const mineLeaves = mine.level(mine.depth, 0, mine.leafCount)
          const theirLeaves = theirs.level(theirs.depth, 0, theirs.leafCount)
          mineLeaves.forEach((d, leaf) => {
            if (!digestEquals(d, theirLeaves[leaf]!)) found.add(`${arc}/${leaf}`)
          })
        }
        expect(found).toEqual(expected)
      }
    ), { numRuns: 50 })
  })
})
