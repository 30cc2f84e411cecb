import { Effect } from "effect"
import type { ReplicaReply, ReplicaRequest } from "../protocol/replica.js"
import type { PeerError } from "./PeerError.js"

/** Sends one replica request; its answer comes through `onDone` (`PeerClientShape.replicate`, or the coordinator's local-or-remote send). */
export type SendReplica = (address: string, request: ReplicaRequest, onDone: (reply: ReplicaReply | PeerError) => void) => void

export interface ReplicaCall {
  readonly peer: string
  readonly request: ReplicaRequest
}

/**
 * Sends every call and hands each answer to `onAnswer` as it arrives, with
 * the call's index and how many are still out. No fiber per call: the
 * peers' transport batches the requests made in one event-loop turn, so a
 * background push of thousands of records costs what the request path
 * costs per operation. Used by every write round, anti-entropy push and
 * tombstone collection.
 */
export const fanout = (
  send: SendReplica,
  calls: ReadonlyArray<ReplicaCall>,
  onAnswer: (index: number, reply: ReplicaReply | PeerError, outstanding: number) => void
): void => {
  let outstanding = calls.length
  calls.forEach(({ peer, request }, i) => send(peer, request, (reply) => onAnswer(i, reply, --outstanding)))
}

/** Sends every call (see `fanout`) and resolves once all are answered, with the answers in the calls' order. */
export const replicateAll = (
  send: SendReplica,
  calls: ReadonlyArray<ReplicaCall>
): Effect.Effect<Array<ReplicaReply | PeerError>> =>
  Effect.async((resume) => {
    const answers = new Array<ReplicaReply | PeerError>(calls.length)
    if (calls.length === 0) return resume(Effect.succeed(answers))
    fanout(send, calls, (i, answer, outstanding) => {
      answers[i] = answer
      if (outstanding === 0) resume(Effect.succeed(answers))
    })
  })
