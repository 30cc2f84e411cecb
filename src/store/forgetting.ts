import * as V from "../clock/version.js"
import type { Version } from "../clock/version.js"
import { fnv1a32 } from "../util/hash.js"

/** Key-hash buckets forgetting is tracked in: fine enough that one busy bucket rarely covers an unrelated key. */
export const FORGETTING_BUCKETS = 1 << 16

/** A key's bucket: the top 16 bits of its FNV-1a hash. */
export const bucketOf = (key: string): number => fnv1a32(key) >>> 16

/** What one bucket remembers: forgotten up to one version, collected tombstones up to another. */
export interface BucketFloors {
  readonly bucket: number
  /** At or below this, a key of the bucket may have been evicted or expired here. */
  readonly forgotten: Version
  /** At or below this, a tombstone of the bucket was collected here once every replica held it. */
  readonly collected: Version
}

/**
 * What a node forgot, per key-hash bucket (S5). Two floors per bucket:
 *
 * - `forgotten` rises only when this node really forgets a record: LRU
 *   eviction, TTL expiry, a tombstone evicted for room. A read that finds
 *   nothing answers with it, so a coordinator does not return a value this
 *   replica may have held a newer version of and forgot.
 * - `collected` rises when a tombstone is collected after every replica of
 *   its key held it: nothing was forgotten that another replica needs, so
 *   reads do not see it; but writes at or below it are refused, so a late
 *   write of an older value cannot bring the deleted key back.
 *
 * A replica that merely missed writes raises neither. Both travel with
 * every pull that hands a range to a new owner.
 */
export class Forgetting {
  private readonly forgottenAt = new Array<Version | undefined>(FORGETTING_BUCKETS)
  private readonly collectedAt = new Array<Version | undefined>(FORGETTING_BUCKETS)

  /** What a read that finds nothing answers: versions at or below it may have been forgotten. */
  forgotten(bucket: number): Version {
    return this.forgottenAt[bucket] ?? V.ZERO
  }

  /** What a write of an absent key must be newer than. */
  floor(bucket: number): Version {
    const forgotten = this.forgottenAt[bucket]
    const collected = this.collectedAt[bucket]
    if (collected === undefined) return forgotten ?? V.ZERO
    return forgotten === undefined ? collected : V.max(forgotten, collected)
  }

  forget(bucket: number, version: Version): void {
    const held = this.forgottenAt[bucket]
    if (held === undefined || V.compare(version, held) > 0) this.forgottenAt[bucket] = V.copy(version)
  }

  collect(bucket: number, version: Version): void {
    const held = this.collectedAt[bucket]
    if (held === undefined || V.compare(version, held) > 0) this.collectedAt[bucket] = V.copy(version)
  }

  /** Takes on another node's floors (a pull's): never lowers any. */
  merge(floors: ReadonlyArray<BucketFloors>): void {
    for (const { bucket, forgotten, collected } of floors) {
      if (!Number.isInteger(bucket) || bucket < 0 || bucket >= FORGETTING_BUCKETS) continue
      if (V.compare(forgotten, V.ZERO) > 0) this.forget(bucket, forgotten)
      if (V.compare(collected, V.ZERO) > 0) this.collect(bucket, collected)
    }
  }

  /** Every bucket with a floor, for a pull to carry. */
  floors(): Array<BucketFloors> {
    const out: Array<BucketFloors> = []
    for (let bucket = 0; bucket < FORGETTING_BUCKETS; bucket++) {
      const forgotten = this.forgottenAt[bucket]
      const collected = this.collectedAt[bucket]
      if (forgotten === undefined && collected === undefined) continue
      out.push({ bucket, forgotten: forgotten ?? V.ZERO, collected: collected ?? V.ZERO })
    }
    return out
  }
}
