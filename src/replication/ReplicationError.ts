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

/** Writes kept meeting newer versions and gave up after a bounded number of retries. */
export class WriteContention extends Schema.TaggedError<WriteContention>()("WriteContention", {
  attempts: Schema.Number
}) {
  override get message(): string {
    return `write lost to newer concurrent versions ${this.attempts} times; retry`
  }
}

export type ReplicationError = QuorumUnavailable | WriteContention
