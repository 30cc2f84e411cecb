import { Effect } from "effect"
import { Hlc } from "../clock/Hlc.js"
import * as V from "../clock/version.js"
import { Entry, Tombstone } from "../store/entry.js"
import { Store } from "../store/ShardedStore.js"
import type { ReplicaReply, ReplicaRequest } from "./protocol.js"

/**
 * This node acting as a replica: applies one request to the local store and
 * moves the HLC past every version it sees. The coordinator calls it
 * directly for the local copy; the peer server calls it for remote ones.
 */
export class LocalReplica extends Effect.Service<LocalReplica>()("cache/replication/LocalReplica", {
  effect: Effect.gen(function*() {
    const store = yield* Store
    const hlc = yield* Hlc
    const handle = (request: ReplicaRequest): ReplicaReply => {
      const write = request.write
      if (write !== undefined) {
        hlc.observe(write.version)
        const result = store.apply(request.key, write)
        if (result._tag === "Stale") hlc.observe(result.current)
        return result
      }
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
