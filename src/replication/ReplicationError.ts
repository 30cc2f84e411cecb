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

export type ReplicationError = QuorumUnavailable | WriteContention
