/**
 * Client-side records of key/value operations, as fed to the linearizability
 * checker. Each key is a register whose state is a string or absent.
 */

export type OpKind = "get" | "set" | "delete"

/**
 * "fail": the operation certainly did not take effect.
 * "unknown": the client never learnt (timeout, UNAVAILABLE after send, ...),
 * so a write may have taken effect at any time after its invocation, or never.
 */
export type Outcome = "ok" | "fail" | "unknown"

export interface Operation {
  readonly id: number
  readonly client: number
  readonly key: string
  readonly kind: OpKind
  /** set: the (unique) value written. get with outcome ok: the value read, or undefined for NOT_FOUND. */
  readonly value: string | undefined
  /** One monotonic clock shared by all clients, so intervals are comparable. */
  readonly invokedAtMs: number
  /** undefined when the client never got an answer (unknown). */
  readonly completedAtMs: number | undefined
  readonly outcome: Outcome
  /** The version the node reported (`hlc/nodeId`), for diagnosis only; the checker ignores it. */
  readonly version?: string
  /** What a failed or unknown call said (gRPC code and details), for diagnosis only. */
  readonly error?: string
}

export type History = ReadonlyArray<Operation>
