import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import { differingLeaves, digestEquals, entryDigest, MAX_DEPTH, MerkleTree } from "../../src/antientropy/MerkleTree.js"
import type { Digest } from "../../src/protocol/movement.js"
import { FULL_RING, type HashRange, tokenArc } from "../../src/ring/hashRange.js"
import { compare, type Version } from "../../src/clock/version.js"
import { fnv1a32 } from "../../src/util/hash.js"

interface State {
  readonly version: Version
  readonly tombstone: boolean
}
type Replica = ReadonlyMap<string, State>

const versionArb: fc.Arbitrary<Version> = fc.record({
  // Both small clocks and ones above 2^32, where bit operations would lose the top.
  hlc: fc.oneof(fc.integer({ min: 0, max: 1000 }), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER })),
  nodeId: fc.integer({ min: 0, max: 0x7fffffff }),
  generation: fc.integer({ min: 1, max: 0x7fffffff })
})
const stateArb: fc.Arbitrary<State> = fc.record({ version: versionArb, tombstone: fc.boolean() })
const keyArb = fc.string({ maxLength: 12, unit: "binary" })
const rangeArb: fc.Arbitrary<HashRange> = fc.oneof(
  fc.constant(FULL_RING),
  fc.record({ first: fc.nat({ max: 2 ** 32 - 1 }), count: fc.integer({ min: 1, max: 2 ** 32 }) })
)

/** Where a key lands inside a range: its hash folded into the range, like a ring arc's own keys. */
const hashIn = (range: HashRange) => (key: string): number => (range.first + (fnv1a32(key) % range.count)) >>> 0
const digestOf = (key: string, s: State): Digest => entryDigest(key, s.version, s.tombstone)
const sameState = (a: State | undefined, b: State | undefined): boolean =>
  a === undefined || b === undefined
    ? a === b
    : compare(a.version, b.version) === 0 && a.tombstone === b.tombstone

const build = (depth: number, range: HashRange, replica: Replica): MerkleTree => {
  const tree = new MerkleTree(depth, range)
  const hash = hashIn(range)
  for (const [key, s] of replica) tree.add(hash(key), digestOf(key, s))
  return tree
}

/** Every node digest, level by level: two trees are the same iff these are. */
const allLevels = (tree: MerkleTree): Array<ReadonlyArray<Digest>> =>
  Array.from({ length: tree.depth + 1 }, (_, level) => tree.level(level, 0, 2 ** level))

/** Two replicas that share most entries, and the keys on which they disagree. */
const replicasArb = fc
  .record({
    shared: fc.dictionary(keyArb, stateArb, { maxKeys: 60 }),
    changes: fc.array(
      fc.record({
        kind: fc.constantFrom("version", "tombstone", "onlyLeft", "onlyRight", "same"),
        pick: fc.nat(),
        key: keyArb,
        state: stateArb
      }),
      { maxLength: 8 }
    )
  })
  .map(({ changes, shared }) => {
    const left = new Map<string, State>(Object.entries(shared))
    const right = new Map<string, State>(left)
    const keys = [...left.keys()]
    for (const change of changes) {
      const existing = keys.length === 0 ? undefined : keys[change.pick % keys.length]!
      switch (change.kind) {
        case "version":
          if (existing !== undefined) right.set(existing, { ...right.get(existing)!, version: change.state.version })
          break
        case "tombstone":
          if (existing !== undefined) {
            const s = right.get(existing)
            if (s !== undefined) right.set(existing, { ...s, tombstone: !s.tombstone })
          }
          break
        case "onlyLeft":
          if (existing !== undefined) right.delete(existing)
          else left.set(change.key, change.state)
          break
        case "onlyRight":
          right.set(change.key, change.state)
          break
        case "same":
          // Rewriting a key with the state it already has must not show up as a difference.
          if (existing !== undefined && right.has(existing)) right.set(existing, { ...right.get(existing)! })
          break
      }
    }
    return { left: left as Replica, right: right as Replica }
  })

const differingKeys = (left: Replica, right: Replica): Array<string> =>
  [...new Set([...left.keys(), ...right.keys()])].filter((k) => !sameState(left.get(k), right.get(k))).sort()

describe("MerkleTree", () => {
  describe("differingLeaves (what anti-entropy compares)", () => {
    const leavesOf = (tree: MerkleTree) => tree.level(tree.depth, 0, tree.leafCount)

    it.prop(
      "finds exactly the leaves of the differing keys",
      [fc.integer({ min: 0, max: 10 }), rangeArb, replicasArb],
      ([depth, range, { left, right }]) => {
        const a = build(depth, range, left)
        const b = build(depth, range, right)
        const leafOfKey = (key: string) => a.leafOf(hashIn(range)(key))
        const expectedKeys = differingKeys(left, right)

        const leaves = differingLeaves(leavesOf(a), leavesOf(b))
        expect(leaves).toEqual([...new Set(expectedKeys.map(leafOfKey))].sort((x, y) => x - y))
        expect(differingLeaves(leavesOf(b), leavesOf(a))).toEqual(leaves)
        expect(digestEquals(a.root(), b.root())).toBe(expectedKeys.length === 0)

        // What the protocol then does: exchange the keys of those leaves and compare them.
        const inLeaves = new Set(leaves)
        const candidates = [...new Set([...left.keys(), ...right.keys()])].filter((k) => inLeaves.has(leafOfKey(k)))
        expect(candidates.filter((k) => !sameState(left.get(k), right.get(k))).sort()).toEqual(expectedKeys)
      }
    )

    it("counts a leaf the other side did not send as empty", () => {
      const tree = build(2, FULL_RING, new Map([["k", { version: { hlc: 1, nodeId: 1, generation: 1 }, tombstone: false }]]))
      const mine = leavesOf(tree)
      const occupied = mine.findIndex((d) => !digestEquals(d, { hi: 0, lo: 0 }))
      expect(differingLeaves(mine, [])).toEqual([occupied])
      expect(differingLeaves(mine, mine)).toEqual([])
      expect(differingLeaves(leavesOf(new MerkleTree(2)), [])).toEqual([])
    })
  })

  describe("incremental updates", () => {
    it.prop(
      "insertion order does not matter, nor reading the tree between writes",
      [
        fc.integer({ min: 0, max: 10 }),
        rangeArb,
        fc.uniqueArray(fc.tuple(keyArb, stateArb), { selector: ([k]) => k, maxLength: 80 }),
        fc.array(fc.nat(), { minLength: 80, maxLength: 80 }),
        fc.array(fc.boolean(), { minLength: 80, maxLength: 80 })
      ],
      ([depth, range, entries, sortKeys, readAfter]) => {
        const hash = hashIn(range)
        const inOrder = new MerkleTree(depth, range)
        for (const [k, s] of entries) inOrder.add(hash(k), digestOf(k, s))
        // The same entries shuffled, with root() calls in between: lazy
        // recomputation must leave no stale node behind.
        const shuffled = new MerkleTree(depth, range)
        const order = entries.map((e, i) => ({ e, at: sortKeys[i]! })).sort((x, y) => x.at - y.at)
        order.forEach(({ e: [k, s] }, i) => {
          shuffled.add(hash(k), digestOf(k, s))
          if (readAfter[i]) shuffled.root()
        })
        expect(shuffled.root()).toEqual(inOrder.root())
        expect(allLevels(shuffled)).toEqual(allLevels(inOrder))
        expect(digestEquals(inOrder.root(), MerkleTree.EMPTY_ROOT)).toBe(entries.length === 0)
      }
    )

    it.prop(
      "add then remove returns to the previous root, and removing everything to EMPTY_ROOT",
      [
        fc.integer({ min: 0, max: 10 }),
        rangeArb,
        fc.dictionary(keyArb, stateArb, { maxKeys: 40 }),
        fc.array(fc.tuple(keyArb, stateArb), { maxLength: 20 })
      ],
      ([depth, range, base, extra]) => {
        const hash = hashIn(range)
        const tree = build(depth, range, new Map(Object.entries(base)))
        const before = allLevels(tree)
        for (const [k, s] of extra) tree.add(hash(k), digestOf(k, s))
        tree.root()
        for (const [k, s] of [...extra].reverse()) tree.remove(hash(k), digestOf(k, s))
        expect(allLevels(tree)).toEqual(before)
        for (const [k, s] of Object.entries(base)) tree.remove(hash(k), digestOf(k, s))
        expect(tree.root()).toEqual(MerkleTree.EMPTY_ROOT)
        expect(allLevels(tree)).toEqual(allLevels(new MerkleTree(depth, range)))
      }
    )

    it.prop(
      "update(before, after) equals remove then add, with undefined meaning absent",
      [
        fc.integer({ min: 0, max: 10 }),
        fc.dictionary(keyArb, stateArb, { maxKeys: 30 }),
        fc.array(fc.tuple(keyArb, fc.option(stateArb, { nil: undefined })), { maxLength: 30 })
      ],
      ([depth, base, writes]) => {
        const hash = hashIn(FULL_RING)
        const held = new Map(Object.entries(base))
        const viaUpdate = build(depth, FULL_RING, held)
        const viaRemoveAdd = build(depth, FULL_RING, held)
        for (const [k, after] of writes) {
          const before = held.get(k)
          const beforeDigest = before === undefined ? undefined : digestOf(k, before)
          const afterDigest = after === undefined ? undefined : digestOf(k, after)
          viaUpdate.update(hash(k), beforeDigest, afterDigest)
          if (beforeDigest !== undefined) viaRemoveAdd.remove(hash(k), beforeDigest)
          if (afterDigest !== undefined) viaRemoveAdd.add(hash(k), afterDigest)
          if (after === undefined) held.delete(k)
          else held.set(k, after)
        }
        expect(allLevels(viaUpdate)).toEqual(allLevels(viaRemoveAdd))
        expect(allLevels(viaUpdate)).toEqual(allLevels(build(depth, FULL_RING, held)))
      }
    )

    it.prop(
      "equal changes in two leaves do not cancel (internal nodes are not XOR)",
      [fc.integer({ min: 1, max: 12 }), fc.nat(), fc.nat(), fc.record({ hi: fc.nat({ max: 2 ** 32 - 1 }), lo: fc.nat({ max: 2 ** 32 - 1 }) })],
      ([depth, x, y, delta]) => {
        fc.pre(delta.hi !== 0 || delta.lo !== 0)
        const leafCount = 2 ** depth
        const first = x % leafCount
        const second = (first + 1 + (y % (leafCount - 1))) % leafCount
        const hashOfLeaf = (leaf: number) => leaf * 2 ** (32 - depth)
        const tree = new MerkleTree(depth)
        tree.add(hashOfLeaf(first), delta)
        tree.add(hashOfLeaf(second), delta)
        expect(tree.root()).not.toEqual(MerkleTree.EMPTY_ROOT)
        // Nor do two leaves swapping their contents.
        const a = new MerkleTree(depth)
        a.add(hashOfLeaf(first), delta)
        a.add(hashOfLeaf(second), { hi: ~delta.hi >>> 0, lo: delta.lo })
        const b = new MerkleTree(depth)
        b.add(hashOfLeaf(second), delta)
        b.add(hashOfLeaf(first), { hi: ~delta.hi >>> 0, lo: delta.lo })
        expect(a.root()).not.toEqual(b.root())
      }
    )

    it("leaves hold the XOR of their entries' digests; level 0 is the root", () => {
      const tree = new MerkleTree(2)
      const d1 = entryDigest("a", { hlc: 1, nodeId: 1, generation: 1 }, false)
      const d2 = entryDigest("b", { hlc: 2, nodeId: 1, generation: 1 }, true)
      tree.add(0x40000000, d1)
      tree.add(0x7fffffff, d2)
      expect(tree.level(2, 0, 4)).toEqual([
        MerkleTree.EMPTY_ROOT,
        { hi: (d1.hi ^ d2.hi) >>> 0, lo: (d1.lo ^ d2.lo) >>> 0 },
        MerkleTree.EMPTY_ROOT,
        MerkleTree.EMPTY_ROOT
      ])
      expect(tree.level(1, 1, 2)).toEqual([MerkleTree.EMPTY_ROOT])
      expect(tree.level(0, 0, 1)).toEqual([tree.root()])
      expect(tree.level(1, 2, 2)).toEqual([])
      expect(() => tree.level(3, 0, 1)).toThrow(RangeError)
      expect(() => tree.level(1, 0, 3)).toThrow(RangeError)
      expect(() => tree.level(1, 2, 1)).toThrow(RangeError)
    })

    it("has one empty root for every depth and range", () => {
      expect(MerkleTree.EMPTY_ROOT).toEqual({ hi: 0, lo: 0 })
      for (const depth of [0, 1, 10, 16, MAX_DEPTH]) {
        expect(new MerkleTree(depth).root()).toEqual(MerkleTree.EMPTY_ROOT)
        expect(new MerkleTree(depth, tokenArc(5, 3)).root()).toEqual(MerkleTree.EMPTY_ROOT)
      }
      expect(() => new MerkleTree(MAX_DEPTH + 1)).toThrow(RangeError)
      expect(() => new MerkleTree(-1)).toThrow(RangeError)
      expect(() => new MerkleTree(1.5)).toThrow(RangeError)
      expect(() => new MerkleTree(4, { first: 0, count: 0 })).toThrow(RangeError)
    })

    it("applies 100,000 updates and a root() at depth 12 well within a second", () => {
      const tree = new MerkleTree(12)
      const versions: Array<Version> = Array.from({ length: 1000 }, (_, i) => ({ hlc: 2 ** 40 + i, nodeId: 3, generation: 9 }))
      const keys = Array.from({ length: 1000 }, (_, i) => `user:${i}`)
      const hashes = keys.map(fnv1a32)
      const held: Array<Digest | undefined> = keys.map(() => undefined)
      const startMs = performance.now()
      for (let n = 0; n < 100_000; n++) {
        const i = n % 1000
        const after = entryDigest(keys[i]!, versions[(n * 7) % 1000]!, n % 11 === 0)
        tree.update(hashes[i]!, held[i], after)
        held[i] = after
      }
      tree.root()
      const elapsedMs = performance.now() - startMs
      expect(elapsedMs).toBeLessThan(1000)
    })
  })

  describe("leafOf", () => {
    it("takes the top depth bits of the hash over the whole ring", () => {
      expect(MerkleTree.leafOf(0xffffffff, 12)).toBe(0xfff)
      expect(MerkleTree.leafOf(0x80000000, 1)).toBe(1)
      expect(MerkleTree.leafOf(0x7fffffff, 1)).toBe(0)
      expect(MerkleTree.leafOf(0xdeadbeef, 0)).toBe(0)
      expect(MerkleTree.leafOf(0xdeadbeef, 16)).toBe(0xdead)
      expect(MerkleTree.leafOf(0xdeadbeef, MAX_DEPTH)).toBe(0xdeadbeef >>> (32 - MAX_DEPTH))
    })

    it.prop(
      "maps a range onto the leaves in hash order, evenly and exactly",
      [fc.integer({ min: 0, max: MAX_DEPTH }), rangeArb, fc.nat({ max: 2 ** 32 - 1 }), fc.nat({ max: 2 ** 32 - 1 })],
      ([depth, range, x, y]) => {
        const leafCount = 2 ** depth
        const [lowOffset, highOffset] = [x % range.count, y % range.count].sort((p, q) => p - q) as [number, number]
        const leafAt = (offset: number) => MerkleTree.leafOf((range.first + offset) >>> 0, depth, range)
        const exact = (offset: number) => Number((BigInt(offset) * BigInt(leafCount)) / BigInt(range.count))
        expect(leafAt(lowOffset)).toBe(exact(lowOffset))
        expect(leafAt(highOffset)).toBe(exact(highOffset))
        expect(leafAt(lowOffset)).toBeLessThanOrEqual(leafAt(highOffset))
        expect(leafAt(0)).toBe(0)
        expect(leafAt(range.count - 1)).toBe(range.count >= leafCount ? leafCount - 1 : exact(range.count - 1))
        if (range.count < 2 ** 32) {
          expect(() => MerkleTree.leafOf((range.first + range.count) >>> 0, depth, range)).toThrow(RangeError)
        }
      }
    )

    it("covers a ring token's arc (previous, token], wrapping past zero", () => {
      const arc = tokenArc(0xfffffff0, 0x10)
      expect(arc).toEqual({ first: 0xfffffff1, count: 0x20 })
      const tree = new MerkleTree(5, arc)
      expect(tree.leafOf(0xfffffff1)).toBe(0)
      expect(tree.leafOf(0x10)).toBe(31)
      expect(() => tree.leafOf(0xfffffff0)).toThrow(RangeError)
      expect(() => tree.leafOf(0x11)).toThrow(RangeError)
      expect(() => tree.add(0x11, { hi: 1, lo: 1 })).toThrow(RangeError)
      expect(tokenArc(7, 7)).toEqual(FULL_RING)
    })
  })

  describe("entryDigest", () => {
    const base: Version = { hlc: 2 ** 40 + 5, nodeId: 7, generation: 9 }

    it("changes with the key, every part of the version, and the tombstone flag", () => {
      const d = entryDigest("user:1", base, false)
      const others = [
        entryDigest("user:2", base, false),
        entryDigest("user:1\u0000", base, false),
        entryDigest("user:1", { ...base, hlc: base.hlc + 1 }, false),
        // Differs only above bit 31, which bit operations alone would drop.
        entryDigest("user:1", { ...base, hlc: base.hlc + 2 ** 32 }, false),
        entryDigest("user:1", { ...base, nodeId: 8 }, false),
        entryDigest("user:1", { ...base, generation: 10 }, false),
        entryDigest("user:1", base, true)
      ]
      for (const other of others) expect(digestEquals(other, d)).toBe(false)
      expect(entryDigest("a", base, false)).not.toEqual(entryDigest("a\u0000", base, false))
      expect(entryDigest("", base, false)).not.toEqual(entryDigest("\u0000", base, false))
    })

    it.prop(
      "gives distinct entries distinct unsigned 64-bit digests",
      [fc.uniqueArray(fc.tuple(keyArb, versionArb, fc.boolean()), {
        selector: ([k, v, t]) => `${k}|${v.hlc}|${v.nodeId}|${v.generation}|${t}`,
        minLength: 2,
        maxLength: 50
      })],
      ([entries]) => {
        const digests = entries.map(([k, v, t]) => entryDigest(k, v, t))
        for (const d of digests) {
          expect(Number.isInteger(d.hi) && d.hi >= 0 && d.hi < 2 ** 32).toBe(true)
          expect(Number.isInteger(d.lo) && d.lo >= 0 && d.lo < 2 ** 32).toBe(true)
        }
        expect(new Set(digests.map((d) => `${d.hi}:${d.lo}`)).size).toBe(entries.length)
      }
    )

    it("is pinned: replicas on different builds must compute the same digests", () => {
      // Changing these values is a change of the anti-entropy protocol.
      expect(entryDigest("user:1", base, false)).toEqual(PINNED_ENTRY)
      const tree = new MerkleTree(3)
      tree.add(0x12345678, entryDigest("user:1", base, false))
      tree.add(0xfedcba98, entryDigest("é🔑", { hlc: 1, nodeId: 2, generation: 3 }, true))
      expect(tree.root()).toEqual(PINNED_ROOT)
    })
  })
})

const PINNED_ENTRY: Digest = { hi: 0xc20c6767, lo: 0x3d1a4ebc }
const PINNED_ROOT: Digest = { hi: 0xc86aba8b, lo: 0xbde5d6e7 }
