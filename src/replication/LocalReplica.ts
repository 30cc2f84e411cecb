import { Effect } from "effect"
import { Hlc } from "../clock/Hlc.js"
import * as V from "../clock/version.js"
import { Ring } from "../placement/Ring.js"
import { NOT_READY, type ReplicaReply, type ReplicaRequest } from "../protocol/replica.js"
import { Entry, Tombstone } from "../store/entry.js"
import { Store } from "../store/ShardedStore.js"
import { Metrics } from "../telemetry/Metrics.js"

/**
 * This node acting as a replica: applies one request to the local store and
 * moves the HLC past every version it sees. It answers only at its own ring
 * epoch (S2, fencing): an operation routed with an older epoch is refused
 * with WrongEpoch (the coordinator learns the newer ring and retries); one
 * from a newer epoch was caught up on before this is called (see the peer
 * handlers), and is refused as NotReady if that failed. At the right epoch
 * it answers only in the role that configuration gives it for the key:
 * reads where it is a read replica, writes where it is a write replica. The
 * coordinator calls it directly for the local copy; the peer server calls
 * it for remote ones.
 */
export class LocalReplica extends Effect.Service<LocalReplica>()("cache/replication/LocalReplica", {
  effect: Effect.gen(function*() {
    const store = yield* Store
    const hlc = yield* Hlc
    const ring = yield* Ring
    const metrics = yield* Metrics
    const handle = (request: ReplicaRequest): ReplicaReply => {
      const view = ring.current()
      if (view === undefined) return NOT_READY
      if (request.epoch < view.epoch) {
        metrics.fenced("replica")
        return { _tag: "WrongEpoch", epoch: view.epoch }
      }
      if (request.epoch > view.epoch) return NOT_READY
      const self = ring.identity()
      const keyHash = ring.hash(request.key)
      const write = request.write
      if (write !== undefined) {
        if (!view.writesAt(self, keyHash)) return NOT_READY
        hlc.observe(write.version)
        const result = store.apply(request.key, write)
        if (result._tag === "Stale") hlc.observe(result.current)
        return result
      }
      if (!view.readsAt(self, keyHash)) return NOT_READY
      const found = store.read(request.key)
      hlc.observe(found)
      if (found instanceof Entry) {
        return { _tag: "Found", version: V.copy(found), value: found.value, expiresAtMs: found.expiresAtMs }
      }
      return found instanceof Tombstone
        ? { _tag: "Deleted", version: V.copy(found) }
        : { _tag: "Absent", watermark: found }
    }
    return { handle } as const
  })
}) {}
