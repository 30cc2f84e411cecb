import * as V from "../clock/version.js"
import type { Version } from "../clock/version.js"
import { ENTRY_OVERHEAD_BYTES } from "../config/entryCost.js"
import { type ApplyResult, Entry, keyBytes, Tombstone, valueBytes, type Write } from "./entry.js"
import { bucketOf, Forgetting } from "./forgetting.js"

/** What one shard may hold: entries and tombstones together. */
export interface ShardLimits {
  readonly maxEntries: number
  readonly maxBytes: number
}

/** Counters a shard keeps for metrics; they only grow. */
export interface ShardCounters {
  hits: number
  misses: number
  evictions: number
  expirations: number
  tombstonesCollected: number
  /** Tombstones evicted for room before every replica held them: real forgetting. */
  tombstonesEvicted: number
}

/**
 * What a replica knows of a key: the live entry, the tombstone of its
 * deletion, or, when it has neither, what this node forgot in the key's
 * bucket (any version at or below it may have been held here and forgotten).
 */
export type ReplicaRead = Entry | Tombstone | Version

/** A key's record went from `before` to `after` (undefined: none held). */
export type RecordListener = (key: string, before: Entry | Tombstone | undefined, after: Entry | Tombstone | undefined) => void

const APPLIED_NEW: ApplyResult = { _tag: "Applied", existed: false }
const APPLIED_REPLACED: ApplyResult = { _tag: "Applied", existed: true }

/**
 * One shard of the local store: a native Map from key to record, and a
 * recency list through the records (oldest first) of entries and tombstones
 * alike, bounded by records and bytes, with per-entry expiry and versions.
 * The Map's own order is only insertion order: walks over it (sweeps,
 * copies) stay valid while records come and go, which the list's would not.
 * What it forgets (eviction, expiry) goes into the node's `Forgetting`, per
 * key-hash bucket. Plain synchronous code; time comes in as `nowMs` so that
 * tests can drive it.
 */
export class LruShard {
  private readonly records = new Map<string, Entry | Tombstone>()
  private oldest: Entry | Tombstone | undefined = undefined
  private newest: Entry | Tombstone | undefined = undefined
  private bytes = 0
  private tombstones = 0
  private sweepCursor: Iterator<[string, Entry | Tombstone]> | undefined
  readonly counters: ShardCounters = { hits: 0, misses: 0, evictions: 0, expirations: 0, tombstonesCollected: 0, tombstonesEvicted: 0 }
  /** Told of every change of what the shard holds for a key (for incremental Merkle trees). */
  onChange: RecordListener | undefined

  constructor(readonly limits: ShardLimits, readonly forgetting: Forgetting = new Forgetting()) {}

  /** Live entries (expired ones not yet swept included). */
  get size(): number {
    return this.records.size - this.tombstones
  }

  get chargedBytes(): number {
    return this.bytes
  }

  get tombstoneCount(): number {
    return this.tombstones
  }

  /** Reads a key: a hit moves it to the most recent end; an expired entry is dropped. */
  read(key: string, nowMs: number): ReplicaRead {
    const record = this.records.get(key)
    if (record instanceof Entry) {
      if (record.expiresAtMs === 0 || record.expiresAtMs > nowMs) {
        this.touch(record)
        this.counters.hits++
        return record
      }
      this.expire(key, record)
    }
    this.counters.misses++
    return record instanceof Tombstone ? record : this.forgetting.forgotten(bucketOf(key))
  }

  /**
   * Applies a write if its version is newer than what the shard holds for
   * the key (or, holding nothing, than the floor of its bucket); otherwise
   * answers `Stale` with the version to beat. Re-applying the same version
   * is a no-op that succeeds, so a retried delivery is harmless.
   */
  apply(key: string, write: Write, nowMs: number): ApplyResult {
    const version = write.version
    let held = this.records.get(key)
    if (held instanceof Entry && held.expiresAtMs !== 0 && held.expiresAtMs <= nowMs) {
      this.expire(key, held)
      held = undefined
    }
    if (held !== undefined && V.compare(version, held) === 0) {
      return held instanceof Entry ? APPLIED_REPLACED : APPLIED_NEW
    }
    // Holding the key, this node never forgot a newer version of it (it would
    // have refused this one): its own record is the floor.
    const floor = held ?? this.forgetting.floor(bucketOf(key))
    if (V.compare(version, floor) <= 0) return { _tag: "Stale", current: V.copy(floor) }

    // Replaced in its Map slot, not deleted and added again (see `Held`).
    if (held !== undefined) this.unlist(held)
    const added = write.value === undefined
      ? new Tombstone(key, version.hlc, version.nodeId, version.generation, nowMs, keyBytes(key) + ENTRY_OVERHEAD_BYTES)
      : new Entry(key, write.value, version.hlc, version.nodeId, version.generation, write.expiresAtMs, keyBytes(key) + valueBytes(write.value) + ENTRY_OVERHEAD_BYTES)
    this.records.set(key, added)
    this.list(added)
    this.onChange?.(key, held, added)
    this.evictToLimits()
    return held instanceof Entry ? APPLIED_REPLACED : APPLIED_NEW
  }

  /**
   * Drops expired entries, looking at no more than `budget` records, and
   * resumes where the last sweep stopped. Returns how many it removed.
   */
  sweep(nowMs: number, budget: number): number {
    let removed = 0
    // Each record is examined at most once per call: wrap around at the end
    // of the map, but stop after a full round.
    const limit = Math.min(budget, this.records.size)
    for (let n = 0; n < limit; n++) {
      this.sweepCursor ??= this.records.entries()
      let next = this.sweepCursor.next()
      if (next.done === true) {
        this.sweepCursor = this.records.entries()
        next = this.sweepCursor.next()
        if (next.done === true) break
      }
      const [key, record] = next.value
      if (record instanceof Entry && record.expiresAtMs !== 0 && record.expiresAtMs <= nowMs) {
        this.expire(key, record)
        removed++
      }
    }
    return removed
  }

  /**
   * Collects a key's tombstone if it is still at `version`: every replica
   * of the key holds it (the caller checked), so nothing is forgotten, but
   * the bucket's collected floor keeps older writes from coming back.
   */
  collect(key: string, version: Version): boolean {
    const record = this.records.get(key)
    if (!(record instanceof Tombstone) || V.compare(record, version) !== 0) return false
    this.remove(key, record)
    this.forgetting.collect(bucketOf(key), record)
    this.onChange?.(key, record, undefined)
    this.counters.tombstonesCollected++
    return true
  }

  /**
   * Drops a key's record if it is still at `version`, without raising any
   * floor: the node no longer replicates the key and its new owners hold
   * it. Returns whether it dropped something.
   */
  release(key: string, version: Version): boolean {
    const record = this.records.get(key)
    if (record === undefined || V.compare(record, version) !== 0) return false
    this.remove(key, record)
    this.onChange?.(key, record, undefined)
    return true
  }

  /** Drops every record, raising no floor and notifying no listener; how many it dropped. */
  clear(): number {
    const dropped = this.records.size
    this.records.clear()
    this.oldest = undefined
    this.newest = undefined
    this.bytes = 0
    this.tombstones = 0
    this.sweepCursor = undefined
    return dropped
  }

  /** Every record from least to most recently used. */
  byRecency(): Array<Entry | Tombstone> {
    const records: Array<Entry | Tombstone> = []
    for (let record = this.oldest; record !== undefined; record = record.newer) records.push(record)
    return records
  }

  /** Every record physically held, expired or not: what change notifications are relative to. */
  held(): IterableIterator<[string, Entry | Tombstone]> {
    return this.records.entries()
  }

  /** Every tombstone held, for collection. */
  *tombstonesHeld(): Generator<readonly [string, Tombstone]> {
    for (const [key, record] of this.records) if (record instanceof Tombstone) yield [key, record]
  }

  /**
   * Every live entry and tombstone, for hand-off and repair. Expired
   * entries are expired on the way (remembered as forgotten), so a copy
   * taken now never lacks a record without the floor that says why.
   */
  *live(nowMs: number): Generator<readonly [string, Entry | Tombstone]> {
    for (const [key, record] of this.records) {
      if (record instanceof Entry && record.expiresAtMs !== 0 && record.expiresAtMs <= nowMs) this.expire(key, record)
      else yield [key, record]
    }
  }

  /**
   * Drops the records of keys `within` accepts that are older than what
   * this node's floors say was forgotten in their bucket: after a pull, a
   * record copied from one source may be older than what another source
   * forgot. Raises nothing (the floor is there already). How many it dropped.
   */
  dropForgotten(within: (key: string) => boolean): number {
    let dropped = 0
    for (const [key, record] of this.records) {
      if (!within(key) || V.compare(this.forgetting.forgotten(bucketOf(key)), record) <= 0) continue
      this.remove(key, record)
      this.onChange?.(key, record, undefined)
      dropped++
    }
    return dropped
  }

  /** Evicts least recently used records, entries and tombstones alike, until within limits: real forgetting. */
  private evictToLimits(): void {
    while (this.records.size > this.limits.maxEntries || this.bytes > this.limits.maxBytes) {
      const record = this.oldest!
      this.remove(record.key, record)
      this.forgetting.forget(bucketOf(record.key), record)
      this.onChange?.(record.key, record, undefined)
      if (record instanceof Tombstone) this.counters.tombstonesEvicted++
      else this.counters.evictions++
    }
  }

  private expire(key: string, entry: Entry): void {
    this.remove(key, entry)
    this.forgetting.forget(bucketOf(key), entry)
    this.onChange?.(key, entry, undefined)
    this.counters.expirations++
  }

  private remove(key: string, record: Entry | Tombstone): void {
    this.records.delete(key)
    this.unlist(record)
  }

  /** Counts a record in and makes it the most recent. */
  private list(record: Entry | Tombstone): void {
    this.bytes += record.chargedBytes
    if (record instanceof Tombstone) this.tombstones++
    this.linkNewest(record)
  }

  /** Counts a record out and takes it off the recency list (its Map slot is the caller's). */
  private unlist(record: Entry | Tombstone): void {
    this.bytes -= record.chargedBytes
    if (record instanceof Tombstone) this.tombstones--
    this.unlink(record)
  }

  private touch(record: Entry | Tombstone): void {
    if (record === this.newest) return
    this.unlink(record)
    this.linkNewest(record)
  }

  private linkNewest(record: Entry | Tombstone): void {
    record.older = this.newest
    record.newer = undefined
    if (this.newest === undefined) this.oldest = record
    else this.newest.newer = record
    this.newest = record
  }

  private unlink(record: Entry | Tombstone): void {
    const { older, newer } = record
    if (older === undefined) this.oldest = newer
    else older.newer = newer
    if (newer === undefined) this.newest = older
    else newer.older = older
    record.older = undefined
    record.newer = undefined
  }
}
