import { Effect } from "effect"
import { NodeConfig } from "../config/NodeConfig.js"
import { TokenBucket } from "./tokenBucket.js"

/** Client connections with a bucket of their own at most; the oldest is dropped for a new one. */
const MAX_CLIENT_BUCKETS = 16_384

/**
 * Admission control for client calls: a token bucket per client connection
 * (`RATE_LIMIT_PER_CLIENT`, by default half of the node's rate) under one
 * per node (`RATE_LIMIT` per second, `RATE_LIMIT_BURST` deep), so one greedy
 * client cannot take every other client's share. A call refused by its own
 * bucket takes nothing from the node's. Calls between nodes never pass
 * through here. With `RATE_LIMIT=0` every call is admitted.
 */
export class RateLimiter extends Effect.Service<RateLimiter>()("cache/ratelimit/RateLimiter", {
  effect: Effect.gen(function*() {
    const config = yield* NodeConfig
    const clock = yield* Effect.clock
    if (config.rateLimit <= 0) return { tryAcquire: (_client?: string): number => 0 } as const
    const node = new TokenBucket(config.rateLimit, config.rateLimitBurst, clock.unsafeCurrentTimeMillis())
    const clients = new Map<string, TokenBucket>()
    const bucketOf = (client: string, nowMs: number): TokenBucket => {
      let bucket = clients.get(client)
      if (bucket === undefined) {
        if (clients.size >= MAX_CLIENT_BUCKETS) clients.delete(clients.keys().next().value!)
        bucket = new TokenBucket(config.rateLimitPerClient, config.rateLimitPerClientBurst, nowMs)
        clients.set(client, bucket)
      }
      return bucket
    }
    return {
      /** 0 when the call of `client` (its connection, e.g. "ipv4:10.0.0.7:51234") is admitted, otherwise the ms to wait before retrying. */
      tryAcquire: (client?: string): number => {
        const nowMs = clock.unsafeCurrentTimeMillis()
        if (client !== undefined && config.rateLimitPerClient > 0) {
          const waitMs = bucketOf(client, nowMs).tryTake(nowMs)
          if (waitMs > 0) return waitMs
        }
        return node.tryTake(nowMs)
      }
    } as const
  })
}) {}
