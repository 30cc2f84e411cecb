import * as V from "../clock/version.js"
import type { Version } from "../clock/version.js"
import { type ApplyResult, Entry, ENTRY_OVERHEAD_BYTES, keyBytes, Tombstone, valueBytes, type Write } from "./entry.js"

/** What one shard may hold. */
export interface ShardLimits {
  readonly maxEntries: number
  readonly maxBytes: number
  /** Tombstones kept at most; the oldest is collected first. */
  readonly maxTombstones: number
  readonly tombstoneGraceMs: number
}

/** Counters a shard keeps for metrics; they only grow. */
export interface ShardCounters {
  hits: number
  misses: number
  evictions: number
  expirations: number
  tombstonesCollected: number
}

/**
 * What a replica knows of a key: the live entry, the tombstone of its
 * deletion, or, when it has neither, the shard's forgotten watermark (any
 * version at or below it may have been forgotten here).
 */
export type ReplicaRead = Entry | Tombstone | Version

/** A key's record went from `before` to `after` (undefined: none held). */
export type RecordListener = (key: string, before: Entry | Tombstone | undefined, after: Entry | Tombstone | undefined) => void

const APPLIED_NEW: ApplyResult = { _tag: "Applied", existed: false }
const APPLIED_REPLACED: ApplyResult = { _tag: "Applied", existed: true }

/**
 * One shard of the local store: an LRU over a native Map kept in recency
 * order (oldest first), bounded by entries and bytes, with per-entry expiry,
 * versions, tombstones and the forgotten watermark. Plain synchronous code;
 * time comes in as `nowMs` so that tests can drive it.
 */
export class LruShard {
  private readonly entries = new Map<string, Entry>()
  private readonly tombstones = new Map<string, Tombstone>()
  private bytes = 0
  private forgotten: Version = V.ZERO
  private sweepCursor: Iterator<[string, Entry]> | undefined
  readonly counters: ShardCounters = { hits: 0, misses: 0, evictions: 0, expirations: 0, tombstonesCollected: 0 }
  /** Told of every change of what the shard holds for a key (for incremental Merkle trees). */
  onChange: RecordListener | undefined

  constructor(readonly limits: ShardLimits) {}

  get size(): number {
    return this.entries.size
  }

  get chargedBytes(): number {
    return this.bytes
  }

  get tombstoneCount(): number {
    return this.tombstones.size
  }

  /** Every version at or below this one may have been forgotten by this shard. */
  get watermark(): Version {
    return this.forgotten
  }

  /** Reads a key: a hit moves it to the most recent end; an expired entry is dropped. */
  read(key: string, nowMs: number): ReplicaRead {
    const entry = this.entries.get(key)
    if (entry !== undefined) {
      if (entry.expiresAtMs === 0 || entry.expiresAtMs > nowMs) {
        this.entries.delete(key)
        this.entries.set(key, entry)
        this.counters.hits++
        return entry
      }
      this.expire(key, entry)
    }
    this.counters.misses++
    return this.tombstones.get(key) ?? this.forgotten
  }

  /**
   * Applies a write if its version is newer than what the shard holds for
   * the key and than the watermark; otherwise answers `Stale` with the
   * version to beat. Re-applying the same version is a no-op that succeeds,
   * so a retried delivery is harmless.
   */
  apply(key: string, write: Write, nowMs: number): ApplyResult {
    const version = write.version
    let entry = this.entries.get(key)
    if (entry !== undefined && entry.expiresAtMs !== 0 && entry.expiresAtMs <= nowMs) {
      this.expire(key, entry)
      entry = undefined
    }
    const tombstone = entry === undefined ? this.tombstones.get(key) : undefined
    const held: Entry | Tombstone | undefined = entry ?? tombstone
    if (held !== undefined && V.compare(version, held) === 0) {
      return entry !== undefined ? APPLIED_REPLACED : APPLIED_NEW
    }
    const floor = held === undefined ? this.forgotten : V.max(held, this.forgotten)
    if (V.compare(version, floor) <= 0) return { _tag: "Stale", current: V.copy(floor) }

    if (entry !== undefined) this.remove(key, entry)
    if (write.value === undefined) {
      this.tombstones.delete(key)
      const added = new Tombstone(version.hlc, version.nodeId, version.generation, nowMs + this.limits.tombstoneGraceMs)
      this.tombstones.set(key, added)
      this.onChange?.(key, held, added)
      while (this.tombstones.size > this.limits.maxTombstones) this.collectOldestTombstone()
    } else {
      if (tombstone !== undefined) this.tombstones.delete(key)
      const charged = keyBytes(key) + valueBytes(write.value) + ENTRY_OVERHEAD_BYTES
      const added = new Entry(write.value, version.hlc, version.nodeId, version.generation, write.expiresAtMs, charged)
      this.entries.set(key, added)
      this.bytes += charged
      this.onChange?.(key, held, added)
      this.evictToLimits()
    }
    return entry !== undefined ? APPLIED_REPLACED : APPLIED_NEW
  }

  /**
   * Drops expired entries and collectable tombstones, looking at no more
   * than `budget` of each, and resumes where the last sweep stopped. Returns
   * how many it removed.
   */
  sweep(nowMs: number, budget: number): number {
    let removed = 0
    for (let n = 0; n < budget && this.tombstones.size > 0; n++) {
      const oldest = this.tombstones.values().next().value as Tombstone
      if (oldest.collectAtMs > nowMs) break
      this.collectOldestTombstone()
      removed++
    }
    // Each entry is examined at most once per call: wrap around at the end
    // of the map, but stop after a full round.
    const limit = Math.min(budget, this.entries.size)
    for (let n = 0; n < limit; n++) {
      this.sweepCursor ??= this.entries.entries()
      let next = this.sweepCursor.next()
      if (next.done === true) {
        this.sweepCursor = this.entries.entries()
        next = this.sweepCursor.next()
        if (next.done === true) break
      }
      const [key, entry] = next.value
      if (entry.expiresAtMs !== 0 && entry.expiresAtMs <= nowMs) {
        this.expire(key, entry)
        removed++
      }
    }
    return removed
  }

  /**
   * Drops a key's record if it is still at `version`, without raising the
   * watermark: the node no longer replicates the key and its new owners
   * hold it. Returns whether it dropped something.
   */
  release(key: string, version: Version): boolean {
    const entry = this.entries.get(key)
    if (entry !== undefined) {
      if (V.compare(entry, version) !== 0) return false
      this.remove(key, entry)
      this.onChange?.(key, entry, undefined)
      return true
    }
    const tombstone = this.tombstones.get(key)
    if (tombstone === undefined || V.compare(tombstone, version) !== 0) return false
    this.tombstones.delete(key)
    this.onChange?.(key, tombstone, undefined)
    return true
  }

  /** Keys from least to most recently used (for tests and hand-off). */
  keys(): IterableIterator<string> {
    return this.entries.keys()
  }

  /** Every record physically held, expired or not: what change notifications are relative to. */
  *held(): Generator<readonly [string, Entry | Tombstone]> {
    yield* this.entries
    yield* this.tombstones
  }

  /** Every live entry and tombstone, for hand-off and repair (expired entries are skipped, not removed). */
  *records(nowMs: number): Generator<readonly [string, Entry | Tombstone]> {
    for (const [key, entry] of this.entries) {
      if (entry.expiresAtMs === 0 || entry.expiresAtMs > nowMs) yield [key, entry]
    }
    yield* this.tombstones
  }

  private evictToLimits(): void {
    while (this.entries.size > this.limits.maxEntries || this.bytes > this.limits.maxBytes) {
      const [key, entry] = this.entries.entries().next().value as [string, Entry]
      this.remove(key, entry)
      this.forget(entry)
      this.onChange?.(key, entry, undefined)
      this.counters.evictions++
    }
  }

  private expire(key: string, entry: Entry): void {
    this.remove(key, entry)
    this.forget(entry)
    this.onChange?.(key, entry, undefined)
    this.counters.expirations++
  }

  private remove(key: string, entry: Entry): void {
    this.entries.delete(key)
    this.bytes -= entry.chargedBytes
  }

  private collectOldestTombstone(): void {
    const [key, tombstone] = this.tombstones.entries().next().value as [string, Tombstone]
    this.tombstones.delete(key)
    this.forget(tombstone)
    this.onChange?.(key, tombstone, undefined)
    this.counters.tombstonesCollected++
  }

  private forget(version: Version): void {
    if (V.compare(version, this.forgotten) > 0) this.forgotten = V.copy(version)
  }
}
