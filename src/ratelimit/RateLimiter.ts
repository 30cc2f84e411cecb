import { Effect } from "effect"
import { NodeConfig } from "../config/NodeConfig.js"
import { TokenBucket } from "./tokenBucket.js"

/**
 * Admission control for client calls: one token bucket per node
 * (`RATE_LIMIT` per second, `RATE_LIMIT_BURST` deep). Calls between nodes
 * never pass through here. With `RATE_LIMIT=0` every call is admitted.
 */
export class RateLimiter extends Effect.Service<RateLimiter>()("cache/ratelimit/RateLimiter", {
  effect: Effect.gen(function*() {
    const config = yield* NodeConfig
    const clock = yield* Effect.clock
    if (config.rateLimit <= 0) return { tryAcquire: (): number => 0 } as const
    const bucket = new TokenBucket(config.rateLimit, config.rateLimitBurst, clock.unsafeCurrentTimeMillis())
    return {
      /** 0 when the call is admitted, otherwise the ms to wait before retrying. */
      tryAcquire: (): number => bucket.tryTake(clock.unsafeCurrentTimeMillis())
    } as const
  })
}) {}
