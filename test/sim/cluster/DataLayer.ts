import * as hlc from "../../../src/clock/timestamp.js"
import * as V from "../../../src/clock/version.js"
import type { Version } from "../../../src/clock/version.js"
import type { ConfigView } from "../../../src/placement/ConfigView.js"
import { inRange } from "../../../src/ring/hashRange.js"
import type { HashRange } from "../../../src/ring/hashRange.js"
import type { PulledRecord } from "../../../src/protocol/movement.js"
import type { ReplicaReply, ReplicaRequest } from "../../../src/protocol/replica.js"
import { replicaAnswer } from "../../../src/replication/replicaAnswer.js"
import { Entry } from "../../../src/store/entry.js"
import { LruShard } from "../../../src/store/Lru.js"
import type { SimNode } from "./SimCluster.js"

const UNBOUNDED = { maxEntries: 1e9, maxBytes: 1e12 }

/**
 * A simulated node's data: the real LRU shard and the real replica rule
 * (`replicaAnswer`) over the node's installed configuration, an HLC on the
 * simulated clock, and the pull and release rules of data movement. A
 * crash loses it all (a restart is a new node with a new one).
 */
export class DataLayer {
  readonly store = new LruShard(UNBOUNDED)
  private last = 0
  readonly nodeId: number

  /** `skewMs`: how far this node's wall clock is off (HLC versions must stay ordered regardless). */
  constructor(readonly node: SimNode, private readonly skewMs: number) {
    this.nodeId = node.cluster.ring.hash(node.address) >>> 1
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

  apply(records: ReadonlyArray<PulledRecord>): void {
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
      if (!member || !view.next.replicates(this.node.address, hash(key))) this.store.release(key, record)
    }
  }
}
