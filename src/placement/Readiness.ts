import { Effect, Stream, SubscriptionRef } from "effect"
import { pullPlan } from "./movement.js"
import { Ring } from "./Ring.js"

export interface Serving {
  readonly ready: boolean
  readonly reason: string
}

/**
 * Whether this node should get client traffic (`/readyz`, gRPC health): it
 * is a member of the agreed ring and holds its ranges (it has pulled what
 * the current movement gives it), and it is not shutting down. A node with
 * seeds is not ready until the cluster it belongs to has agreed on a ring
 * with it on it.
 */
export class Readiness extends Effect.Service<Readiness>()("cache/placement/Readiness", {
  effect: Effect.gen(function*() {
    const ring = yield* Ring
    const leavingRef = yield* SubscriptionRef.make(false)
    let leaving = false
    const serving = (): Serving => {
      if (leaving) return { ready: false, reason: "leaving the cluster" }
      const view = ring.current()
      switch (ring.status()) {
        case "forming":
          return { ready: false, reason: `forming: waiting for every seed to answer with the same seed list (${ring.seeds.join(",")})` }
        case "joining":
          return { ready: false, reason: `joining: not yet a member of the agreed ring (epoch ${ring.epoch()})` }
        case "left":
          return { ready: false, reason: "left the cluster" }
        case "leaving":
          return { ready: false, reason: "leaving the cluster" }
        case "member":
          if (view !== undefined && pullPlan(view, ring.identity()).length > 0 && ring.synced() < view.epoch) {
            return { ready: false, reason: `pulling the ranges it gains in epoch ${view.epoch}` }
          }
          return { ready: true, reason: `serving (epoch ${ring.epoch()}, ${view?.phase ?? "stable"})` }
      }
    }
    return {
      serving,
      /** Whether the node is ready now, then each time that changes. */
      readyChanges: Stream.merge(ring.changes, leavingRef.changes).pipe(Stream.map(() => serving().ready), Stream.changes),
      /** From the start of a shutdown: no more client traffic. */
      beginLeaving: Effect.suspend(() => {
        leaving = true
        return SubscriptionRef.set(leavingRef, true)
      })
    } as const
  })
}) {}
