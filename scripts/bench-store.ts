/**
 * The local store's own speed and memory, without gRPC: fills one node's
 * Store (the same Layer `pnpm start` builds) with N keys of 100-byte values,
 * then times sets, gets (hits, spread and on two hot keys) and misses, and
 * reports heap bytes per entry.
 *
 *   pnpm bench:store [entries=1000000] [shards=1]
 *
 * Run with --expose-gc for a settled heap figure (the script does this itself).
 */
import { Effect, Layer } from "effect"
import { Hlc } from "../src/clock/Hlc.js"
import { NodeConfig } from "../src/config/NodeConfig.js"
import { ENTRY_OVERHEAD_BYTES } from "../src/config/entryCost.js"
import { Store } from "../src/store/ShardedStore.js"

const entries = Number(process.argv[2] ?? 1_000_000)
const numShards = Number(process.argv[3] ?? 1)
const HOT_READS = 200_000
const gc = (globalThis as { gc?: () => void }).gc

const settle = () => {
  gc?.()
  gc?.()
  return process.memoryUsage()
}

// Flat one-byte strings, as the gRPC decoder produces them (not ropes from concatenation).
const flat = (text: string) => Buffer.from(text, "latin1").toString("latin1")
const keyOf = (i: number) => flat(`key:${i.toString().padStart(10, "0")}`) // 14 bytes
const valueOf = (i: number) => flat(`${i}`.padEnd(100, "v")) // 100 bytes

const program = Effect.gen(function*() {
  const store = yield* Store
  const hlc = yield* Hlc
  const before = settle()
  let keys = Array.from({ length: entries }, (_, i) => keyOf(i))
  let values = Array.from({ length: entries }, (_, i) => valueOf(i))

  let t = performance.now()
  for (let i = 0; i < entries; i++) store.apply(keys[i]!, { version: hlc.next(), value: values[i]!, expiresAtMs: 0 })
  const fillMs = performance.now() - t
  // Drop the input arrays: what is left is the store, keys and values included.
  const keysForReads = keys
  keys = []
  values = []
  const filled = settle()
  keys = keysForReads
  values = Array.from({ length: entries }, (_, i) => valueOf(i))

  t = performance.now()
  for (let i = 0; i < entries; i++) store.apply(keys[i]!, { version: hlc.next(), value: values[i]!, expiresAtMs: 0 })
  const overwriteMs = performance.now() - t

  // Random gets, so that recency updates move entries all over the map.
  const order = Uint32Array.from({ length: entries }, (_, i) => (i * 2654435761) % entries)
  t = performance.now()
  let hits = 0
  for (let i = 0; i < entries; i++) if (store.read(keys[order[i]!]!) !== undefined) hits++
  const getMs = performance.now() - t

  // Hot keys: the same two keys read over and over, as a skewed workload (or h2load) does.
  const hot = [keys[0]!, keys[entries >> 1]!]
  t = performance.now()
  for (let i = 0; i < HOT_READS; i++) store.read(hot[i & 1]!)
  const hotMs = performance.now() - t

  t = performance.now()
  for (let i = 0; i < entries; i++) store.read(`missing:${i}`)
  const missMs = performance.now() - t

  const bytesPerEntry = (filled.heapUsed + filled.external - before.heapUsed - before.external) / entries
  const result = {
    entries,
    shards: numShards,
    stats: store.stats(),
    opsPerSecond: {
      setNew: Math.round(entries / (fillMs / 1000)),
      setOverwrite: Math.round(entries / (overwriteMs / 1000)),
      getHit: Math.round(entries / (getMs / 1000)),
      getHot: Math.round(HOT_READS / (hotMs / 1000)),
      getMiss: Math.round(entries / (missMs / 1000))
    },
    memory: {
      // Heap the filled store takes per entry, its 14-byte key and 100-byte value included.
      heapBytesPerEntry: Math.round(bytesPerEntry),
      overheadBytesPerEntry: Math.round(bytesPerEntry - 114),
      chargedOverheadBytes: ENTRY_OVERHEAD_BYTES,
      rssMiB: Math.round(process.memoryUsage().rss / 2 ** 20),
      hits
    }
  }
  console.log(JSON.stringify(result, null, 2))
})

const layer = Layer.mergeAll(Store.Default, Hlc.Default).pipe(
  Layer.provide(NodeConfig.layer({ capacity: entries, numShards, maxMemoryBytes: 16 * 2 ** 30 }))
)
Effect.runPromise(Effect.scoped(Effect.provide(program, layer)))
