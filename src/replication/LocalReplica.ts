import { Effect } from "effect"
import { Readiness } from "../antientropy/Readiness.js"
import { Hlc } from "../clock/Hlc.js"
import * as V from "../clock/version.js"
import { Entry, Tombstone } from "../store/entry.js"
import { Store } from "../store/ShardedStore.js"
import { NOT_READY, type ReplicaReply, type ReplicaRequest } from "./protocol.js"

/**
 * This node acting as a replica: applies one request to the local store and
 * moves the HLC past every version it sees. On keys it does not vote on
 * (see `Readiness`) it answers NotReady, after applying a write. The coordinator calls it
 * directly for the local copy; the peer server calls it for remote ones.
 */
export class LocalReplica extends Effect.Service<LocalReplica>()("cache/replication/LocalReplica", {
  effect: Effect.gen(function*() {
    const store = yield* Store
    const hlc = yield* Hlc
    const readiness = yield* Readiness
    const handle = (request: ReplicaRequest): ReplicaReply => {
      const write = request.write
      const votes = readiness.votesOn(request.key)
      if (write !== undefined) {
        hlc.observe(write.version)
        // A non-voter still applies writes, so that it misses none while it pulls.
        const result = store.apply(request.key, write)
        if (!votes) return NOT_READY
        if (result._tag === "Stale") hlc.observe(result.current)
        return result
      }
      if (!votes) return NOT_READY
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
