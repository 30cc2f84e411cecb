import * as hlc from "../../../src/clock/timestamp.js"
import * as V from "../../../src/clock/version.js"
import type { Version } from "../../../src/clock/version.js"
import type { ConfigView } from "../../../src/placement/ConfigView.js"
import { inRange } from "../../../src/ring/hashRange.js"
import type { HashRange } from "../../../src/ring/hashRange.js"
import type { PulledRecord } from "../../../src/protocol/movement.js"
import type { ReplicaReply, ReplicaRequest } from "../../../src/protocol/replica.js"
import { replicaAnswer } from "../../../src/replication/replicaAnswer.js"
import { Entry, type Tombstone } from "../../../src/store/entry.js"
import type { BucketFloors } from "../../../src/store/forgetting.js"
import { LruShard } from "../../../src/store/Lru.js"
import type { SimNode } from "./SimCluster.js"

const UNBOUNDED = { maxEntries: 1e9, maxBytes: 1e12 }
/** A node with room for two records: it evicts all the time. */
const SMALL = { maxEntries: 2, maxBytes: 1e12 }

/**
 * A simulated node's data: the real LRU shard and the real replica rule
 * (`replicaAnswer`) over the node's installed configuration, an HLC on the
 * simulated clock, and the pull and release rules of data movement. A
 * crash loses it all (a restart is a new node with a new one).
 */
export class DataLayer {
  readonly store: LruShard
  private last = 0
  readonly nodeId: number
  /** Set while the node drops records for reasons that are not forgetting (release, collection). */
  private quiet = false

  /**
   * `skewMs`: how far this node's wall clock is off (HLC versions must stay
   * ordered regardless). `small`: room for two records only. Every record
   * the store drops on its own (eviction, expiry) marks its key as one that
   * may vanish.
   */
  constructor(readonly node: SimNode, private readonly skewMs: number, small = false) {
    this.nodeId = node.cluster.ring.hash(node.address) >>> 1
    this.store = new LruShard(small ? SMALL : UNBOUNDED)
    this.store.onChange = (key, before, after) => {
      if (after === undefined && before !== undefined && !this.quiet) node.cluster.forgottenKeys.add(key)
    }
  }

  private silently<A>(run: () => A): A {
    this.quiet = true
    try {
      return run()
    } finally {
      this.quiet = false
    }
  }

  /** Tombstones this node has held for `graceMs` or longer: candidates for collection. */
  graceElapsed(graceMs: number): Array<readonly [string, Tombstone]> {
    return [...this.store.tombstonesHeld()].filter(([, t]) => t.appliedAtMs + graceMs <= this.nowMs)
  }

  /** Collects a tombstone every replica acknowledged (no forgetting). */
  collect(key: string, version: Version): boolean {
    return this.silently(() => this.store.collect(key, version))
  }

  private get nowMs(): number {
    return this.node.cluster.agenda.nowMs
  }

  /** A version newer than every one handed out or observed here. */
  next(): Version {
    this.last = hlc.tick(this.last, this.nowMs + 1_000_000 + this.skewMs)
    return { hlc: this.last, nodeId: this.nodeId, generation: this.node.identity.generation }
  }

  observe = (version: Version): void => {
    this.last = hlc.observe(this.last, version.hlc)
  }

  /** This node as a replica: the real rule over its configuration and store. */
  replica(request: ReplicaRequest): ReplicaReply {
    const view = this.node.core.current
    const asked = this.node.cluster.bugs.noFencing === true && view !== undefined ? { ...request, epoch: view.epoch } : request
    return replicaAnswer(view, this.node.identity, this.node.cluster.ring.hash(request.key), asked, {
      read: (key) => this.store.read(key, this.nowMs),
      apply: (key, write) => this.store.apply(key, write, this.nowMs),
      observe: this.observe,
      problem: () => undefined
    })
  }

  /** What a pull at `epoch` for `ranges` gets here: records only at that very epoch. */
  records(ranges: ReadonlyArray<HashRange>): Array<PulledRecord> {
    const hash = this.node.cluster.ring.hash
    const out: Array<PulledRecord> = []
    for (const [key, record] of this.store.live(this.nowMs)) {
      const h = hash(key)
      if (!ranges.some((range) => inRange(range, h))) continue
      out.push({
        key,
        write: record instanceof Entry
          ? { version: V.copy(record), value: record.value, expiresAtMs: record.expiresAtMs }
          : { version: V.copy(record), value: undefined, expiresAtMs: 0 }
      })
    }
    return out
  }

  /** Drops a record as if it had never been there (no floor, no forgetting): only for the simulator's broken rules. */
  drop(key: string, version: Version): boolean {
    return this.silently(() => this.store.release(key, version))
  }

  /** After a pull: drops records of the pulled ranges older than their bucket's forgotten floor (see `DataMovement`). */
  dropForgotten(ranges: ReadonlyArray<HashRange>): number {
    const hash = this.node.cluster.ring.hash
    return this.silently(() => this.store.dropForgotten((key) => ranges.some((range) => inRange(range, hash(key)))))
  }

  /** What this node forgot, per bucket: travels with what it hands over. */
  floors(): Array<BucketFloors> {
    return this.store.forgetting.floors()
  }

  apply(records: ReadonlyArray<PulledRecord>, floors: ReadonlyArray<BucketFloors> = []): void {
    this.store.forgetting.merge(floors)
    for (const { key, write } of records) {
      this.observe(write.version)
      this.store.apply(key, write, this.nowMs)
    }
  }

  /** Once a stable configuration is installed: drop what this node no longer replicates. */
  release(view: ConfigView): void {
    if (!view.stable && view.participates(this.node.identity)) return
    const hash = this.node.cluster.ring.hash
    const member = view.isMember(this.node.identity)
    for (const [key, record] of [...this.store.live(this.nowMs)]) {
      if (!member || !view.next.replicates(this.node.address, hash(key))) this.silently(() => this.store.release(key, record))
    }
  }
}
