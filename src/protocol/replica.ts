import type { Version } from "../clock/version.js"
import type { Value, Write } from "../store/entry.js"

/** One operation a coordinator asks of a replica: a read, or a versioned write. */
export interface ReplicaRequest {
  readonly key: string
  /** undefined for a read. */
  readonly write: Write | undefined
  /** The ring epoch the coordinator routed this operation with (0: none; refused). */
  readonly epoch: number
  /** W3C trace context of the coordinator's span for this call, when the client call is sampled. */
  readonly traceparent?: string | undefined
}

/** A replica's answer. Reads get Found/Deleted/Absent, writes Applied/Stale. */
export type ReplicaReply =
  | { readonly _tag: "Found"; readonly version: Version; readonly value: Value; readonly expiresAtMs: number }
  | { readonly _tag: "Deleted"; readonly version: Version }
  /** Nothing held; anything at or below `watermark` may have been forgotten here. */
  | { readonly _tag: "Absent"; readonly watermark: Version }
  | { readonly _tag: "Applied"; readonly existed: boolean }
  | { readonly _tag: "Stale"; readonly current: Version }
  /**
   * This node is not a replica of the key at the operation's epoch (or is
   * not the member that epoch names at its address): the answer must not
   * count, and nothing was applied.
   */
  | { readonly _tag: "NotReady" }
  /** The replica is on a newer ring epoch and refused the operation (fencing). */
  | { readonly _tag: "WrongEpoch"; readonly epoch: number }
  /** Refused as invalid (a version too far ahead of the replica's clock); nothing applied, must not count. */
  | { readonly _tag: "Refused"; readonly reason: string }

export const NOT_READY: ReplicaReply = { _tag: "NotReady" }
