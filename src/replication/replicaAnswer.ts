import * as V from "../clock/version.js"
import type { Version } from "../clock/version.js"
import type { ConfigView } from "../placement/ConfigView.js"
import type { MemberId } from "../protocol/placement.js"
import { NOT_READY, type ReplicaReply, type ReplicaRequest } from "../protocol/replica.js"
import { type ApplyResult, Entry, Tombstone, type Write } from "../store/entry.js"
import type { ReplicaRead } from "../store/Lru.js"

/** The parts of a node a replica answer needs: its store and its clock. */
export interface ReplicaState {
  readonly read: (key: string) => ReplicaRead
  readonly apply: (key: string, write: Write) => ApplyResult
  /** Moves the node's HLC past a version seen. */
  readonly observe: (version: Version) => void
  /** Why a version from elsewhere must be refused (too far ahead of this clock), or undefined. */
  readonly problem: (version: Version) => string | undefined
}

/**
 * A replica's answer to one operation, as a pure rule over the node's
 * agreed configuration (S2, fencing): an operation routed with an older
 * epoch is refused with WrongEpoch; one from a newer epoch (the caller
 * failed to catch up first) or for a key this node has no role for at that
 * epoch is NotReady, and nothing is applied. At the right epoch, reads are
 * answered where this node is a read replica and writes applied where it is
 * a write replica. Shared by the node (`LocalReplica`) and the simulator.
 */
export const replicaAnswer = (
  view: ConfigView | undefined,
  self: MemberId,
  keyHash: number,
  request: ReplicaRequest,
  state: ReplicaState
): ReplicaReply => {
  if (view === undefined) return NOT_READY
  if (request.epoch < view.epoch) return { _tag: "WrongEpoch", epoch: view.epoch }
  if (request.epoch > view.epoch) return NOT_READY
  const write = request.write
  if (write !== undefined) {
    if (!view.writesAt(self, keyHash)) return NOT_READY
    return applyWrite(request.key, write, state)
  }
  if (!view.readsAt(self, keyHash)) return NOT_READY
  return readKey(request.key, state)
}

/**
 * The answer to an operation this node routed itself, with the very
 * configuration it is at: the coordinator chose this node from that
 * configuration's replica sets, so the epoch and role checks hold already.
 */
export const ownAnswer = (request: ReplicaRequest, state: ReplicaState): ReplicaReply =>
  request.write !== undefined ? applyWrite(request.key, request.write, state) : readKey(request.key, state)

const applyWrite = (key: string, write: Write, state: ReplicaState): ReplicaReply => {
  const problem = state.problem(write.version)
  if (problem !== undefined) return { _tag: "Refused", reason: problem }
  state.observe(write.version)
  const result = state.apply(key, write)
  if (result._tag === "Stale") state.observe(result.current)
  return result
}

const readKey = (key: string, state: ReplicaState): ReplicaReply => {
  const found = state.read(key)
  state.observe(found)
  if (found instanceof Entry) return { _tag: "Found", version: V.copy(found), value: found.value, expiresAtMs: found.expiresAtMs }
  return found instanceof Tombstone ? { _tag: "Deleted", version: V.copy(found) } : { _tag: "Absent", watermark: found }
}

/** The version a replica's answer carries, if any. */
const versionIn = (reply: ReplicaReply): Version | undefined => {
  switch (reply._tag) {
    case "Found":
    case "Deleted":
      return reply.version
    case "Absent":
      return reply.watermark
    case "Stale":
      return reply.current
    default:
      return undefined
  }
}

/**
 * A remote replica's answer as the coordinator may use it: one carrying a
 * version too far ahead of this node's clock (`problem`) is refused, so it
 * neither wins a read nor drags this clock forward.
 */
export const screened = (reply: ReplicaReply, problem: (version: Version) => string | undefined): ReplicaReply => {
  const version = versionIn(reply)
  if (version === undefined) return reply
  const reason = problem(version)
  return reason === undefined ? reply : { _tag: "Refused", reason: `answer refused: ${reason}` }
}
