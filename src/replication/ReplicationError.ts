import { Schema } from "effect"

/** Too few replicas answered for the requested consistency level. */
export class QuorumUnavailable extends Schema.TaggedError<QuorumUnavailable>()("QuorumUnavailable", {
  required: Schema.Number,
  acked: Schema.Number,
  replicas: Schema.Number
}) {
  override get message(): string {
    return `quorum not reached: ${this.acked} of ${this.replicas} replicas answered, ${this.required} needed`
  }
}

/**
 * The write lost to concurrent newer writes of the same key: it may have
 * been visible briefly, then overwritten, or not at all. Retrying is safe.
 */
export class WriteContention extends Schema.TaggedError<WriteContention>()("WriteContention", {
  attempts: Schema.Number
}) {
  override get message(): string {
    return `write lost to concurrent newer writes of the same key (after ${this.attempts} attempts); retry`
  }
}

/**
 * This node cannot coordinate requests now: no ring is agreed yet (a
 * cluster forming), it is not yet a member (joining), or it has left.
 * Refused before anything was sent: nothing was written.
 */
export class NotServing extends Schema.TaggedError<NotServing>()("NotServing", {
  reason: Schema.String
}) {
  override get message(): string {
    return `not serving: ${this.reason}`
  }
}

/**
 * The ring changed under a request that had already reached replicas: they
 * kept refusing it for newer epochs, or this node is no longer a member of
 * the newer ring. A write may or may not have been applied.
 */
export class RingMoved extends Schema.TaggedError<RingMoved>()("RingMoved", {
  reason: Schema.String
}) {
  override get message(): string {
    return `the ring changed during the request (${this.reason}); it may or may not have taken effect; retry`
  }
}

export type ReplicationError = QuorumUnavailable | WriteContention | NotServing | RingMoved
