import { beforeAll, describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import { HashRing } from "../../src/ring/HashRing.js"
import { type Hash32, loadXxHash32 } from "../../src/ring/keyHash.js"
import { defaults } from "../../src/config/NodeConfig.js"

let hash: Hash32
beforeAll(async () => {
  hash = await loadXxHash32()
})
const nodes = (n: number) => Array.from({ length: n }, (_, i) => `10.0.0.${i + 1}:8080`)
const ring = (members: ReadonlyArray<string>, replicas = 3) => HashRing.build(members, { vnodes: defaults.vnodes, replicas, hash })
const keys = Array.from({ length: 20_000 }, (_, i) => `user:${i}`)

describe("HashRing", () => {
  it("gives every node its share of the circle within ±15% at the default vnode count", () => {
    for (let n = 3; n <= 10; n++) {
      const shares = ring(nodes(n)).primaryShares()
      for (const share of shares.values()) {
        expect(Math.abs(share * n - 1)).toBeLessThanOrEqual(0.15)
      }
      const total = [...shares.values()].reduce((a, b) => a + b, 0)
      expect(total).toBeCloseTo(1, 9)
    }
  })

  it("moves about 1/(n+1) of keys when a node joins, and none between old nodes", () => {
    for (const n of [3, 5, 9]) {
      const before = ring(nodes(n), 1)
      const after = ring(nodes(n + 1), 1)
      const added = nodes(n + 1)[n]!
      let moved = 0
      for (const key of keys) {
        const was = before.preferenceList(hash(key))[0]
        const is = after.preferenceList(hash(key))[0]
        if (was !== is) {
          moved++
          expect(is).toBe(added) // a key only ever moves to the new node
        }
      }
      expect(Math.abs(moved / keys.length - 1 / (n + 1))).toBeLessThan(0.05)
    }
  })

  it("keeps replica sets stable except for the joining node when one joins", () => {
    const before = ring(nodes(5))
    const after = ring(nodes(6))
    const added = nodes(6)[5]!
    for (const key of keys.slice(0, 2000)) {
      const was = before.preferenceList(hash(key))
      const is = after.preferenceList(hash(key))
      // Old members keep their relative order; at most one was displaced by the newcomer.
      const kept = is.filter((m) => m !== added)
      expect(kept.every((m) => was.includes(m))).toBe(true)
      expect(was.filter((m) => !is.includes(m)).length).toBeLessThanOrEqual(1)
    }
  })

  it.prop(
    "preference lists hold min(replicas, members) distinct members, primary = owner of the next token",
    [fc.uniqueArray(fc.ipV4(), { minLength: 1, maxLength: 8 }), fc.integer({ min: 1, max: 5 }), fc.array(fc.string(), { maxLength: 50 })],
    ([members, replicas, sample]) => {
      const r = HashRing.build(members, { vnodes: 16, replicas, hash })
      for (const key of sample) {
        const list = r.preferenceList(hash(key))
        expect(list.length).toBe(Math.min(replicas, members.length))
        expect(new Set(list).size).toBe(list.length)
        for (const m of list) expect(members).toContain(m)
      }
    }
  )

  it("returns the same preference list for the same key on rings built in any member order", () => {
    const a = ring(nodes(4))
    const b = ring([...nodes(4)].reverse())
    for (const key of keys.slice(0, 500)) expect(a.preferenceList(hash(key))).toEqual(b.preferenceList(hash(key)))
  })

  it("has no owners when empty", () => {
    expect(HashRing.build([], { vnodes: 8, replicas: 3, hash }).preferenceList(123)).toEqual([])
  })
})
