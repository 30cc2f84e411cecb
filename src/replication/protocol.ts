import type { Version } from "../clock/version.js"
import type { Value, Write } from "../store/entry.js"

/** One operation a coordinator asks of a replica: a read, or a versioned write. */
export interface ReplicaRequest {
  readonly key: string
  /** undefined for a read. */
  readonly write: Write | undefined
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
   * This replica does not vote on the key: it is still pulling it (after a
   * start or a ring change) or is leaving. A write was applied all the same.
   */
  | { readonly _tag: "NotReady" }

export const NOT_READY: ReplicaReply = { _tag: "NotReady" }
