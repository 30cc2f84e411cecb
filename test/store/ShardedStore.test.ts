import { describe, expect, it } from "@effect/vitest"
import { Clock, Effect, Layer, TestClock } from "effect"
import { defaults, NodeConfig } from "../../src/config/NodeConfig.js"
import { Entry } from "../../src/store/entry.js"
import { shardLimits, shareOf, Store } from "../../src/store/ShardedStore.js"

const withStore = (overrides: Parameters<typeof NodeConfig.layer>[0]) =>
  Effect.provide(Store.Default.pipe(Layer.provide(NodeConfig.layer(overrides))))
const version = (hlc: number) => ({ hlc, nodeId: 1, generation: 1 })

describe("ShardedStore", () => {
  it("splits capacity and bytes over shards without losing any", () => {
    for (const [capacity, numShards] of [[1000, 1], [1000, 3], [7, 7], [10, 4]] as const) {
      const config = { ...defaults, capacity, numShards }
      const shares = Array.from({ length: numShards }, (_, i) => shardLimits(config, i))
      expect(shares.reduce((sum, s) => sum + s.maxEntries, 0)).toBe(capacity)
      expect(shares.reduce((sum, s) => sum + s.maxBytes, 0)).toBe(config.maxMemoryBytes)
      expect(Math.max(...shares.map((s) => s.maxEntries)) - Math.min(...shares.map((s) => s.maxEntries))).toBeLessThanOrEqual(1)
    }
    expect(shareOf(10, 4, 0) + shareOf(10, 4, 1) + shareOf(10, 4, 2) + shareOf(10, 4, 3)).toBe(10)
  })

  it.scoped("never holds more than CAPACITY entries across its shards", () =>
    Effect.gen(function*() {
      const store = yield* Store
      for (let i = 0; i < 500; i++) store.apply(`key-${i}`, { version: version(i + 1), value: "v", expiresAtMs: 0 })
      const stats = store.stats()
      expect(stats.shards).toBe(4)
      expect(stats.entries).toBeLessThanOrEqual(100)
      expect(stats.entries).toBeGreaterThan(90) // keys spread over all shards
      expect(stats.evictions).toBe(500 - stats.entries)
    }).pipe(withStore({ capacity: 100, numShards: 4 })))

  it.scoped("sweeps expired entries in the background, a bounded batch per tick", () =>
    Effect.gen(function*() {
      const store = yield* Store
      const nowMs = yield* Clock.currentTimeMillis
      for (let i = 0; i < 50; i++) {
        store.apply(`k${i}`, { version: version(i + 1), value: "v", expiresAtMs: nowMs + 5_000 })
      }
      store.apply("forever", { version: version(100), value: "v", expiresAtMs: 0 })
      yield* TestClock.adjust("5 seconds")
      // Ticks at 1 s intervals; each looks at 20 entries per shard.
      expect(store.stats().expirations).toBeLessThanOrEqual(20 * 2)
      yield* TestClock.adjust("5 seconds")
      const stats = store.stats()
      expect(stats.expirations).toBe(50)
      expect(stats.entries).toBe(1)
      expect(store.read("forever")).toBeInstanceOf(Entry)
    }).pipe(withStore({ numShards: 2, expirySweepBatch: 20 })))

  it.scoped("passes over the records lazily: each held throughout comes at least once while others are read, written and dropped", () =>
    Effect.gen(function*() {
      const store = yield* Store
      for (let i = 0; i < 300; i++) store.apply(`k${i}`, { version: version(i + 1), value: "v", expiresAtMs: 0 })
      const seen: Array<string> = []
      let step = 0
      for (const [key] of store.live()) {
        seen.push(key)
        // Meanwhile: reads move keys to the recent end, a new key arrives, a key not yet reached goes away.
        if (step++ === 100) {
          for (let i = 0; i < 300; i += 7) store.read(`k${i}`)
          store.apply("late", { version: version(1000), value: "v", expiresAtMs: 0 })
          store.release("k299", version(300))
        }
      }
      const held = new Set(seen)
      for (let i = 0; i < 299; i++) expect(held.has(`k${i}`)).toBe(true)
      expect(held.has("k299")).toBe(false)
      // Lazy, not a copy taken at the start: the key written during the pass is in it.
      expect(held.has("late")).toBe(true)
    }).pipe(withStore({ numShards: 1 })))
})
