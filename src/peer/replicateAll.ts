import { Effect } from "effect"
import type { ReplicaReply, ReplicaRequest } from "../protocol/replica.js"
import type { PeerClientShape } from "./PeerClient.js"
import type { PeerError } from "./PeerError.js"

export interface ReplicaCall {
  readonly peer: string
  readonly request: ReplicaRequest
}

/**
 * Sends every call through the peers' batching transport and resolves once
 * all are answered, with the answers in the calls' order. No fiber per call:
 * a background push of thousands of records costs what the request path
 * costs per operation.
 */
export const replicateAll = (
  peers: PeerClientShape,
  calls: ReadonlyArray<ReplicaCall>
): Effect.Effect<Array<ReplicaReply | PeerError>> =>
  Effect.async((resume) => {
    const answers = new Array<ReplicaReply | PeerError>(calls.length)
    let pending = calls.length
    if (pending === 0) return resume(Effect.succeed(answers))
    calls.forEach(({ peer, request }, i) =>
      peers.replicate(peer, request, (answer) => {
        answers[i] = answer
        if (--pending === 0) resume(Effect.succeed(answers))
      })
    )
  })
