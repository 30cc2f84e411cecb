import { Counter, Gauge, type Registry } from "prom-client"
import type { MemberStatus } from "../protocol/membership.js"
import type { StoreStats } from "../store/ShardedStore.js"

/** What the scrape-time metrics read. */
export interface NodeGauges {
  readonly storeStats: () => StoreStats
  readonly members: () => ReadonlyArray<{ readonly status: MemberStatus }>
  readonly ringMembers: () => number
  readonly ringEpoch: () => number
  readonly ringPhase: () => string | undefined
  /** Ranges whose keys cannot reach a quorum now, in this node's failure detector. */
  readonly rangesUnavailable: () => number
  readonly ready: () => boolean
  readonly voting: () => boolean
}

const STATES: ReadonlyArray<MemberStatus> = ["alive", "suspect", "dead", "left"]

/** A counter whose total lives elsewhere (the store's own counters), read at scrape time. */
const observedCounter = (registry: Registry, name: string, help: string, read: () => number) =>
  new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      this.reset()
      this.inc(read())
    }
  })

const observedGauge = (registry: Registry, name: string, help: string, read: () => number) =>
  new Gauge({
    name,
    help,
    registers: [registry],
    collect() {
      this.set(read())
    }
  })

/**
 * Registers the values known only when asked: store size and counters,
 * membership and ring state, readiness. Each scrape reads them once.
 */
export const registerNodeMetrics = (registry: Registry, node: NodeGauges): void => {
  // stats() sums per-shard counters: cheap enough to call once per metric.
  const stat = (field: keyof StoreStats) => () => node.storeStats()[field]
  observedGauge(registry, "cache_store_entries", "Live entries held by this node", stat("entries"))
  observedGauge(registry, "cache_store_bytes", "Bytes charged for held entries: keys, values and per-entry overhead", stat("bytes"))
  observedGauge(registry, "cache_store_tombstones", "Deletions remembered until every replica holds them (charged to CAPACITY and MAX_MEMORY like entries)", stat("tombstones"))
  observedCounter(registry, "cache_store_hits_total", "Local reads that found a live value", stat("hits"))
  observedCounter(registry, "cache_store_misses_total", "Local reads that found nothing live", stat("misses"))
  observedCounter(registry, "cache_store_evictions_total", "Entries evicted by the LRU for CAPACITY or MAX_MEMORY", stat("evictions"))
  observedCounter(registry, "cache_store_expirations_total", "Entries dropped when their TTL passed", stat("expirations"))
  observedCounter(registry, "cache_store_tombstones_collected_total", "Tombstones collected once every replica held them and TOMBSTONE_GRACE had passed", stat("tombstonesCollected"))
  observedCounter(registry, "cache_store_tombstones_evicted_total", "Tombstones evicted for CAPACITY or MAX_MEMORY before every replica held them (real forgetting)", stat("tombstonesEvicted"))

  new Gauge({
    name: "cache_members",
    help: "Members known to this node's SWIM table, by state",
    labelNames: ["state"] as const,
    registers: [registry],
    collect() {
      const counts = new Map<MemberStatus, number>(STATES.map((s) => [s, 0]))
      for (const member of node.members()) counts.set(member.status, (counts.get(member.status) ?? 0) + 1)
      for (const [state, count] of counts) this.labels(state).set(count)
    }
  })
  observedGauge(registry, "cache_ring_members", "Members of the agreed ring this node routes with", node.ringMembers)
  observedGauge(registry, "cache_ring_epoch", "Epoch of the agreed ring configuration this node is at (0 before the first)", node.ringEpoch)
  new Gauge({
    name: "cache_ring_phase",
    help: "1 for the phase of the configuration this node is at: stable, writeBoth (moving; reads on the previous ring), readNew",
    labelNames: ["phase"] as const,
    registers: [registry],
    collect() {
      const phase = node.ringPhase()
      for (const p of ["stable", "writeBoth", "readNew"]) this.labels(p).set(p === phase ? 1 : 0)
    }
  })
  observedGauge(registry, "cache_ranges_unavailable", "Ranges whose replica sets lack a reachable majority in this node's view (QUORUM fails there)", node.rangesUnavailable)
  observedGauge(registry, "cache_ready", "1 while /readyz answers 200", () => (node.ready() ? 1 : 0))
  observedGauge(registry, "cache_voting", "1 while this node is a member whose ranges reads may use", () => (node.voting() ? 1 : 0))
}
