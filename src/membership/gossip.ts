import type { MemberUpdate } from "../protocol/membership.js"

/** How many times each update is piggybacked: multiplier * ceil(log10(n + 1)), at least 1 (memberlist's formula). */
export const retransmitLimit = (clusterSize: number, multiplier = 4): number =>
  Math.max(1, multiplier * Math.ceil(Math.log10(Math.max(0, clusterSize) + 1)))

interface Queued {
  readonly update: MemberUpdate
  /** Enqueue order; among equally sent updates the newest goes first, as in memberlist. */
  readonly seq: number
  sent: number
}

/**
 * The updates waiting to be piggybacked on probes and acks. Gossip about a
 * member is only worth its latest claim, so a newer update replaces the
 * queued one and starts its retransmissions afresh.
 */
export class GossipQueue {
  /** In enqueue order, oldest first, so the one to drop when full is first. */
  private readonly queued = new Map<string, Queued>()
  private nextSeq = 0

  constructor(readonly maxQueued: number) {}

  get size(): number {
    return this.queued.size
  }

  /** Queues an update, replacing any queued update about the same address; drops the oldest when full. */
  enqueue(update: MemberUpdate): void {
    this.queued.delete(update.address)
    this.queued.set(update.address, { update, seq: this.nextSeq++, sent: 0 })
    while (this.queued.size > this.maxQueued) {
      const oldest = this.queued.keys().next().value as string
      this.queued.delete(oldest)
    }
  }

  /**
   * Up to `max` updates to piggyback on one message, fewest-sent first; each
   * is sent at most retransmitLimit(clusterSize) times, then dropped. The
   * limit is taken from the current cluster size, so when the cluster shrinks
   * updates already sent often enough are dropped unsent.
   */
  take(max: number, clusterSize: number): ReadonlyArray<MemberUpdate> {
    const limit = retransmitLimit(clusterSize)
    for (const [address, item] of this.queued) {
      if (item.sent >= limit) this.queued.delete(address)
    }
    if (max <= 0) return []
    const chosen = [...this.queued.values()].sort((a, b) => a.sent - b.sent || b.seq - a.seq).slice(0, max)
    for (const item of chosen) {
      item.sent++
      if (item.sent >= limit) this.queued.delete(item.update.address)
    }
    return chosen.map((item) => item.update)
  }
}
