import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import type { Version } from "../../src/clock/version.js"
import { ENTRY_OVERHEAD_BYTES } from "../../src/config/entryCost.js"
import { Entry, keyBytes, Tombstone, valueBytes } from "../../src/store/entry.js"
import * as V from "../../src/clock/version.js"
import { bucketOf } from "../../src/store/forgetting.js"
import { LruShard, type ShardLimits } from "../../src/store/Lru.js"

/** Live keys from least to most recently used. */
const liveKeys = (shard: LruShard) => shard.byRecency().filter((record) => record instanceof Entry).map((record) => record.key)

const v = (hlc: number): Version => ({ hlc, nodeId: 1, generation: 1 })
const put = (value: string, hlc: number, expiresAtMs = 0) => ({ version: v(hlc), value, expiresAtMs })
const del = (hlc: number) => ({ version: v(hlc), value: undefined, expiresAtMs: 0 })
const limits = (over: Partial<ShardLimits> = {}): ShardLimits => ({
  maxEntries: 3,
  maxBytes: 1_000_000,
  ...over
})
const valueOf = (shard: LruShard, key: string, nowMs: number) => {
  const found = shard.read(key, nowMs)
  return found instanceof Entry ? found.value : undefined
}

/** The obvious LRU over entries and tombstones: an array in recency order, oldest first. */
class ModelLru {
  items: Array<{ key: string; value: string | undefined; expiresAtMs: number; bytes: number }> = []
  constructor(readonly maxEntries: number, readonly maxBytes: number) {}
  private expired = (e: { value: string | undefined; expiresAtMs: number }, now: number) =>
    e.value !== undefined && e.expiresAtMs !== 0 && e.expiresAtMs <= now
  private drop(key: string) {
    this.items = this.items.filter((e) => e.key !== key)
  }
  get(key: string, now: number): string | undefined {
    const item = this.items.find((e) => e.key === key)
    if (item === undefined || item.value === undefined) return undefined
    this.drop(key)
    if (this.expired(item, now)) return undefined
    this.items.push(item)
    return item.value
  }
  private add(item: { key: string; value: string | undefined; expiresAtMs: number; bytes: number }) {
    this.drop(item.key)
    this.items.push(item)
    const total = () => this.items.reduce((sum, e) => sum + e.bytes, 0)
    while (this.items.length > this.maxEntries || total() > this.maxBytes) this.items.shift()
  }
  set(key: string, value: string, expiresAtMs: number) {
    this.add({ key, value, expiresAtMs, bytes: keyBytes(key) + valueBytes(value) + ENTRY_OVERHEAD_BYTES })
  }
  delete(key: string) {
    this.add({ key, value: undefined, expiresAtMs: 0, bytes: keyBytes(key) + ENTRY_OVERHEAD_BYTES })
  }
  sweep(now: number) {
    this.items = this.items.filter((e) => !this.expired(e, now))
  }
  liveKeys(): Array<string> {
    return this.items.filter((e) => e.value !== undefined).map((e) => e.key)
  }
}

const key = fc.constantFrom("a", "b", "c", "d", "e", "f", "é", "🔑")
const op = fc.oneof(
  fc.record({ op: fc.constant("set" as const), key, value: fc.string({ maxLength: 40, unit: "binary" }), ttlMs: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 100 })) }),
  fc.record({ op: fc.constant("get" as const), key }),
  fc.record({ op: fc.constant("delete" as const), key }),
  fc.record({ op: fc.constant("tick" as const), ms: fc.integer({ min: 0, max: 60 }) }),
  fc.record({ op: fc.constant("sweep" as const) })
)

describe("LruShard", () => {
  it.prop(
    "behaves like a model LRU with TTL and tombstones: same answers, same order, limits never exceeded",
    [fc.integer({ min: 1, max: 6 }), fc.integer({ min: 230, max: 900 }), fc.array(op, { maxLength: 200 })],
    ([maxEntries, maxBytes, ops]) => {
      const shard = new LruShard(limits({ maxEntries, maxBytes }))
      const model = new ModelLru(maxEntries, maxBytes)
      let now = 1000
      let hlc = 1
      for (const o of ops) {
        switch (o.op) {
          case "set": {
            const expiresAtMs = o.ttlMs === 0 ? 0 : now + o.ttlMs
            expect(shard.apply(o.key, put(o.value, hlc++, expiresAtMs), now)._tag).toBe("Applied")
            model.set(o.key, o.value, expiresAtMs)
            break
          }
          case "get": {
            const found = shard.read(o.key, now)
            if (found instanceof Entry) expect(found.expiresAtMs === 0 || found.expiresAtMs > now).toBe(true)
            expect(found instanceof Entry ? found.value : undefined).toEqual(model.get(o.key, now))
            break
          }
          case "delete":
            expect(shard.apply(o.key, del(hlc++), now)._tag).toBe("Applied")
            model.delete(o.key)
            break
          case "tick":
            now += o.ms
            break
          case "sweep":
            shard.sweep(now, Number.MAX_SAFE_INTEGER)
            model.sweep(now)
            break
        }
        expect(shard.size + shard.tombstoneCount).toBeLessThanOrEqual(maxEntries)
        expect(shard.chargedBytes).toBeLessThanOrEqual(maxBytes)
        expect(shard.chargedBytes).toBe(model.items.reduce((sum, e) => sum + e.bytes, 0))
        expect(liveKeys(shard)).toEqual(model.liveKeys())
        // The recency list and the Map hold the same records.
        expect(new Set(shard.byRecency())).toEqual(new Set([...shard.held()].map(([, record]) => record)))
        expect(shard.tombstoneCount).toBe(model.items.length - model.liveKeys().length)
      }
    }
  )

  it("refuses a write older than the held version and changes nothing", () => {
    const shard = new LruShard(limits())
    shard.apply("k", put("new", 10), 0)
    expect(shard.apply("k", put("old", 9), 0)).toEqual({ _tag: "Stale", current: v(10) })
    expect(valueOf(shard, "k", 0)).toBe("new")
  })

  it("accepts the same version again as a harmless duplicate", () => {
    const shard = new LruShard(limits())
    shard.apply("k", put("x", 10), 0)
    expect(shard.apply("k", put("x", 10), 0)).toEqual({ _tag: "Applied", existed: true })
    expect(valueOf(shard, "k", 0)).toBe("x")
  })

  it("keeps a tombstone that stops an older write from resurrecting the key", () => {
    const shard = new LruShard(limits())
    shard.apply("k", put("x", 10), 0)
    expect(shard.apply("k", del(11), 0)).toEqual({ _tag: "Applied", existed: true })
    expect(shard.read("k", 0)).toBeInstanceOf(Tombstone)
    expect(shard.apply("k", put("late", 10.5), 0)._tag).toBe("Stale")
    expect(shard.apply("k", put("newer", 12), 0)).toEqual({ _tag: "Applied", existed: false })
    expect(valueOf(shard, "k", 0)).toBe("newer")
  })

  it("remembers what it evicts in the key's bucket only, so older writes of it cannot come back", () => {
    const shard = new LruShard(limits({ maxEntries: 2 }))
    shard.apply("a", put("a", 1), 0)
    shard.apply("b", put("b", 2), 0)
    shard.apply("c", put("c", 3), 0) // evicts a@1
    expect(shard.counters.evictions).toBe(1)
    expect(shard.forgetting.forgotten(bucketOf("a"))).toEqual(v(1))
    expect(shard.read("a", 0)).toEqual(v(1))
    expect(shard.apply("a", put("stale a", 1), 0)).toEqual({ _tag: "Stale", current: v(1) })
    expect(shard.apply("a", put("a2", 4), 0)._tag).toBe("Applied")
    // A key this shard never held reads as forgetting nothing (its bucket is another).
    expect(bucketOf("never")).not.toBe(bucketOf("a"))
    expect(shard.read("never", 0)).toEqual(V.ZERO)
  })

  it("evicts by bytes as well as by entries", () => {
    const entryBytes = (k: string, value: string) => keyBytes(k) + valueBytes(value) + ENTRY_OVERHEAD_BYTES
    const shard = new LruShard(limits({ maxEntries: 100, maxBytes: entryBytes("a", "x".repeat(100)) * 2 }))
    shard.apply("a", put("x".repeat(100), 1), 0)
    shard.apply("b", put("x".repeat(100), 2), 0)
    expect(shard.size).toBe(2)
    shard.apply("c", put("x".repeat(101), 3), 0)
    expect(liveKeys(shard)).toEqual(["c"])
    expect(shard.counters.evictions).toBe(2)
  })

  it("expires entries lazily on read and remembers them as forgotten", () => {
    const shard = new LruShard(limits())
    shard.apply("k", put("x", 5, 100), 0)
    expect(valueOf(shard, "k", 99)).toBe("x")
    expect(valueOf(shard, "k", 100)).toBeUndefined()
    expect(shard.counters.expirations).toBe(1)
    expect(shard.read("k", 100)).toEqual(v(5))
  })

  it("sweeps at most its budget per call and resumes where it stopped", () => {
    const shard = new LruShard(limits({ maxEntries: 10 }))
    for (let i = 0; i < 10; i++) shard.apply(`k${i}`, put("x", i + 1, 50), 0)
    expect(shard.sweep(60, 4)).toBe(4)
    expect(shard.size).toBe(6)
    expect(shard.sweep(60, 4)).toBe(4)
    expect(shard.sweep(60, 4)).toBe(2)
    expect(shard.size).toBe(0)
    expect(shard.counters.expirations).toBe(10)
  })

  it("keeps tombstones until told to collect one, then refuses older writes without reporting anything forgotten", () => {
    const shard = new LruShard(limits())
    shard.apply("k", del(7), 0)
    expect(shard.sweep(1e12, 10)).toBe(0)
    expect(shard.tombstoneCount).toBe(1)
    expect(shard.collect("k", v(6))).toBe(false)
    expect(shard.collect("k", v(7))).toBe(true)
    expect(shard.tombstoneCount).toBe(0)
    expect(shard.counters.tombstonesCollected).toBe(1)
    expect(shard.read("k", 100)).toEqual(V.ZERO)
    expect(shard.apply("k", put("old", 6), 100)).toEqual({ _tag: "Stale", current: v(7) })
    expect(shard.apply("k", put("new", 8), 100)._tag).toBe("Applied")
  })

  it("charges tombstones like entries and evicts them with the LRU, as real forgetting", () => {
    const shard = new LruShard(limits({ maxEntries: 2 }))
    shard.apply("a", del(1), 0)
    shard.apply("b", del(2), 0)
    expect(shard.chargedBytes).toBe(2 * (1 + ENTRY_OVERHEAD_BYTES))
    shard.apply("c", del(3), 0)
    expect(shard.tombstoneCount).toBe(2)
    expect(shard.counters.tombstonesEvicted).toBe(1)
    expect(shard.read("a", 0)).toEqual(v(1))
    expect(shard.read("b", 0)).toBeInstanceOf(Tombstone)
  })

  it("expires what has run out when a copy is taken, so nothing is missing without its floor", () => {
    const shard = new LruShard(limits({ maxEntries: 10 }))
    shard.apply("gone", put("x", 5, 100), 0)
    shard.apply("kept", put("y", 6), 0)
    expect([...shard.live(100)].map(([key]) => key)).toEqual(["kept"])
    expect(shard.forgetting.forgotten(bucketOf("gone"))).toEqual(v(5))
    expect(shard.counters.expirations).toBe(1)
  })

  it("drops records older than their bucket's forgotten floor, only among the keys asked", () => {
    const shard = new LruShard(limits({ maxEntries: 10 }))
    shard.apply("a", put("old a", 3), 0)
    shard.apply("b", put("b", 3), 0)
    // Another source forgot a@7 and b@2: a's copy here is older than what was forgotten.
    shard.forgetting.merge([
      { bucket: bucketOf("a"), forgotten: v(7), collected: V.ZERO },
      { bucket: bucketOf("b"), forgotten: v(2), collected: V.ZERO }
    ])
    expect(shard.dropForgotten((key) => key !== "never")).toBe(1)
    expect(shard.read("a", 0)).toEqual(v(7))
    expect(valueOf(shard, "b", 0)).toBe("b")
  })
})
