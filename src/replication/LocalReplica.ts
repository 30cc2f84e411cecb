import { Effect } from "effect"
import { NodeConfig } from "../config/NodeConfig.js"
import { recordProblem } from "../protocol/limits.js"
import { Hlc } from "../clock/Hlc.js"
import { Ring } from "../placement/Ring.js"
import type { ReplicaReply, ReplicaRequest } from "../protocol/replica.js"
import { Store } from "../store/ShardedStore.js"
import { Metrics } from "../telemetry/Metrics.js"
import { ownAnswer, replicaAnswer, type ReplicaState } from "./replicaAnswer.js"

/**
 * This node acting as a replica: answers one operation by `replicaAnswer`
 * (the epoch and role rules) over the local store, moving the HLC past
 * every version it sees. The coordinator calls it directly for the local
 * copy; the peer server calls it for remote ones, after catching up on a
 * newer epoch the operation was routed with.
 */
export class LocalReplica extends Effect.Service<LocalReplica>()("cache/replication/LocalReplica", {
  effect: Effect.gen(function*() {
    const config = yield* NodeConfig
    const store = yield* Store
    const hlc = yield* Hlc
    const ring = yield* Ring
    const metrics = yield* Metrics
    const state: ReplicaState = { read: store.read, apply: store.apply, observe: hlc.observe, problem: hlc.problem }
    /** A peer's operation: checked against the same limits as a client's request first. */
    const handle = (request: ReplicaRequest): ReplicaReply => {
      const problem = recordProblem(request.key, request.write, config)
      if (problem !== undefined) return { _tag: "Refused", reason: problem }
      const reply = replicaAnswer(ring.current(), ring.identity(), ring.hash(request.key), request, state)
      if (reply._tag === "WrongEpoch") metrics.fenced("replica")
      return reply
    }
    /**
     * The local copy of an operation this node coordinates: when routed with
     * the configuration it is still at, no second hash or role lookup.
     */
    const handleOwn = (request: ReplicaRequest): ReplicaReply =>
      request.epoch === ring.epoch() ? ownAnswer(request, state) : handle(request)
    // At most one warning a second: a flood of forged writes must not flood the log too.
    let lastWarnedMs = 0
    const refused = (from: string, count: number, reason: string): Effect.Effect<void> =>
      Effect.suspend(() => {
        metrics.refused(count)
        const nowMs = Date.now()
        if (nowMs - lastWarnedMs < 1000) return Effect.void
        lastWarnedMs = nowMs
        return Effect.logWarning("refused replica writes from a peer").pipe(
          Effect.annotateLogs({ from: from.slice(0, 300), count, reason })
        )
      })
    return { handle, handleOwn, refused } as const
  })
}) {}
