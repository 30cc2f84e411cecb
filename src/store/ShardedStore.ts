import { Duration, Effect, Schedule } from "effect"
import type { Version } from "../clock/version.js"
import { NodeConfig, type NodeConfigShape } from "../config/NodeConfig.js"
import type { ApplyResult, Entry, Tombstone, Write } from "./entry.js"
import { type BucketFloors, Forgetting } from "./forgetting.js"
import { fnv1a32 } from "../util/hash.js"
import { LruShard, type RecordListener, type ReplicaRead, type ShardLimits } from "./Lru.js"

/** Totals over all shards, for stats and metrics. */
export interface StoreStats {
  readonly shards: number
  readonly entries: number
  readonly bytes: number
  readonly tombstones: number
  readonly hits: number
  readonly misses: number
  readonly evictions: number
  readonly expirations: number
  readonly tombstonesCollected: number
  readonly tombstonesEvicted: number
}

/** Splits `total` into `parts` shares that differ by at most one and add up to `total`. */
export const shareOf = (total: number, parts: number, index: number): number =>
  Math.floor(total / parts) + (index < total % parts ? 1 : 0)

/** The limits of shard `index` out of `config.numShards`. */
export const shardLimits = (config: NodeConfigShape, index: number): ShardLimits => ({
  maxEntries: shareOf(config.capacity, config.numShards, index),
  maxBytes: shareOf(config.maxMemoryBytes, config.numShards, index)
})

/**
 * The node's local store: `NUM_SHARDS` LRU shards, a key's shard picked by
 * hash. Reads and writes are plain synchronous calls (the hot path never
 * enters Effect here); a background fiber sweeps expired entries a bounded
 * batch at a time.
 */
export class Store extends Effect.Service<Store>()("cache/store/Store", {
  scoped: Effect.gen(function*() {
    const config = yield* NodeConfig
    const clock = yield* Effect.clock
    // One record of what this node forgot, shared by its shards: it is kept per key-hash bucket.
    const forgetting = new Forgetting()
    const shards = Array.from({ length: config.numShards }, (_, i) => new LruShard(shardLimits(config, i), forgetting))
    const graceMs = Duration.toMillis(config.tombstoneGrace)
    const single = shards.length === 1
    const shardOf = (key: string): LruShard => shards[single ? 0 : fnv1a32(key) % shards.length]!

    const sweepOnce = Effect.sync(() => {
      const nowMs = clock.unsafeCurrentTimeMillis()
      let removed = 0
      for (const shard of shards) removed += shard.sweep(nowMs, config.expirySweepBatch)
      return removed
    }).pipe(
      Effect.tap((removed) => removed > 0 ? Effect.logDebug("expiry sweep").pipe(Effect.annotateLogs({ removed })) : Effect.void)
    )
    yield* Effect.forkScoped(Effect.repeat(sweepOnce, Schedule.spaced(config.expirySweepInterval)))

    return {
      /** What this replica holds for a key (see `ReplicaRead`). */
      read: (key: string): ReplicaRead => shardOf(key).read(key, clock.unsafeCurrentTimeMillis()),
      /** Applies a versioned write or deletion; `Stale` when a newer version is held or was forgotten. */
      apply: (key: string, write: Write): ApplyResult => shardOf(key).apply(key, write, clock.unsafeCurrentTimeMillis()),
      /** Every record physically held, expired ones included (the base of incremental summaries). */
      held: (): Array<readonly [string, Entry | Tombstone]> => shards.flatMap((shard) => [...shard.held()]),
      /** Registers the one listener told of every change of what any shard holds. */
      onChange: (listener: RecordListener | undefined): void => {
        for (const shard of shards) shard.onChange = listener
      },
      /** Drops a key this node no longer replicates, if it is still at `version` (no floor changes). */
      release: (key: string, version: Version): boolean => shardOf(key).release(key, version),
      /** Collects a tombstone that every replica of its key holds, if it is still at `version`. */
      collect: (key: string, version: Version): boolean => shardOf(key).collect(key, version),
      /** Tombstones older than TOMBSTONE_GRACE: the candidates for collection. */
      graceElapsed: (): Array<readonly [string, Tombstone]> => {
        const before = clock.unsafeCurrentTimeMillis() - graceMs
        return shards.flatMap((shard) => [...shard.tombstonesHeld()].filter(([, t]) => t.appliedAtMs <= before))
      },
      /** What this node forgot, per bucket: a pull hands it on with the records. */
      floors: (): Array<BucketFloors> => forgetting.floors(),
      /** Takes on the floors of a node this one pulled a range from. */
      mergeFloors: (floors: ReadonlyArray<BucketFloors>): void => forgetting.merge(floors),
      /** After a pull: drops records of keys `within` accepts that are older than their bucket's forgotten floor. */
      dropForgotten: (within: (key: string) => boolean): number => shards.reduce((n, shard) => n + shard.dropForgotten(within), 0),
      /**
       * Drops every record at once (no floor changes, no change notices):
       * for a node that was removed while running, before it joins again.
       * Returns how many records it dropped.
       */
      clear: (): number => shards.reduce((dropped, shard) => dropped + shard.clear(), 0),
      /** Sweeps every shard once now (the background fiber does this on its own). */
      sweep: sweepOnce,
      /**
       * Every live entry and tombstone, for hand-off and repair, read lazily
       * from the shards as the caller goes (no copy of the store): a record
       * held throughout the pass comes at least once, one read or rewritten
       * meanwhile may come twice (it moves to the recent end), so callers
       * must be idempotent. Expired entries are expired on the way.
       */
      live: function*(): Generator<readonly [string, Entry | Tombstone]> {
        const nowMs = clock.unsafeCurrentTimeMillis()
        for (const shard of shards) yield* shard.live(nowMs)
      },
      stats: (): StoreStats => {
        const stats = {
          shards: shards.length,
          entries: 0,
          bytes: 0,
          tombstones: 0,
          hits: 0,
          misses: 0,
          evictions: 0,
          expirations: 0,
          tombstonesCollected: 0,
          tombstonesEvicted: 0
        }
        for (const shard of shards) {
          stats.entries += shard.size
          stats.bytes += shard.chargedBytes
          stats.tombstones += shard.tombstoneCount
          stats.hits += shard.counters.hits
          stats.misses += shard.counters.misses
          stats.evictions += shard.counters.evictions
          stats.expirations += shard.counters.expirations
          stats.tombstonesCollected += shard.counters.tombstonesCollected
          stats.tombstonesEvicted += shard.counters.tombstonesEvicted
        }
        return stats
      }
    } as const
  })
}) {}
