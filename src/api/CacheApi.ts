import { Duration, Effect, type Option } from "effect"
import { NodeConfig } from "../config/NodeConfig.js"
import { RateLimited } from "../ratelimit/RateLimitError.js"
import { RateLimiter } from "../ratelimit/RateLimiter.js"
import type { Consistency } from "../replication/consistency.js"
import { type FoundValue, Replication, type WriteOutcome } from "../replication/Coordinator.js"
import type { ReplicationError } from "../replication/ReplicationError.js"
import type { Value } from "../store/entry.js"
import { InvalidArgument } from "./ApiError.js"
import { keyProblem, valueProblem } from "../protocol/limits.js"

/** A client's Set, decoded from whatever protocol carried it. */
export interface SetCommand {
  readonly key: string
  readonly value: Value | undefined
  /** undefined: the node's TTL setting; 0: never expires. */
  readonly ttlSeconds: number | undefined
  /** undefined: the node default (QUORUM). */
  readonly consistency: Consistency | undefined
  /** Who is calling (its connection), for its own share of the rate limit. */
  readonly client?: string | undefined
}

export type ApiError = InvalidArgument | RateLimited | ReplicationError

/**
 * The client-facing operations, independent of gRPC: admission by the rate
 * limiter, validation against the size limits, then the coordinator. A
 * rejected request never reaches the store.
 */
export class CacheApi extends Effect.Service<CacheApi>()("cache/api/CacheApi", {
  effect: Effect.gen(function*() {
    const config = yield* NodeConfig
    const limiter = yield* RateLimiter
    const replication = yield* Replication
    const clock = yield* Effect.clock
    const defaultTtlMs = Duration.toMillis(config.defaultTtl)

    /** Fails with the first reason to refuse the call, or returns undefined to proceed. */
    const refuse = (key: string, client: string | undefined): Effect.Effect<never, InvalidArgument | RateLimited> | undefined => {
      const waitMs = limiter.tryAcquire(client)
      if (waitMs > 0) return Effect.fail(new RateLimited({ retryAfterMs: waitMs }))
      const problem = keyProblem(key, config)
      return problem === undefined ? undefined : Effect.fail(new InvalidArgument({ message: problem }))
    }

    const set = (command: SetCommand): Effect.Effect<WriteOutcome, ApiError> => {
      const refused = refuse(command.key, command.client)
      if (refused !== undefined) return refused
      const problem = valueProblem(command.value, config)
      if (problem !== undefined) return Effect.fail(new InvalidArgument({ message: problem }))
      const ttlMs = command.ttlSeconds === undefined ? defaultTtlMs : command.ttlSeconds * 1000
      const expiresAtMs = ttlMs > 0 ? clock.unsafeCurrentTimeMillis() + ttlMs : 0
      return replication.write(command.key, command.value, expiresAtMs, command.consistency ?? "QUORUM")
    }

    const get = (key: string, consistency: Consistency | undefined, client?: string): Effect.Effect<Option.Option<FoundValue>, ApiError> =>
      refuse(key, client) ?? replication.read(key, consistency ?? "QUORUM")

    const del = (key: string, consistency: Consistency | undefined, client?: string): Effect.Effect<WriteOutcome, ApiError> =>
      refuse(key, client) ?? replication.write(key, undefined, 0, consistency ?? "QUORUM")

    return { set, get, delete: del } as const
  })
}) {}
