import { Schema } from "effect"

/** The node admits no more client calls right now; retry after the given delay. */
export class RateLimited extends Schema.TaggedError<RateLimited>()("RateLimited", {
  retryAfterMs: Schema.Number
}) {
  override get message(): string {
    return `rate limit exceeded; retry in ${this.retryAfterMs} ms`
  }
}
