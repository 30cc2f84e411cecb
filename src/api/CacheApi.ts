import { Duration, Effect, Exit, type Option } from "effect"
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

    /** The first reason to refuse the call, or undefined to proceed. */
    const refusal = (key: string, client: string | undefined): InvalidArgument | RateLimited | undefined => {
      const waitMs = limiter.tryAcquire(client)
      if (waitMs > 0) return new RateLimited({ retryAfterMs: waitMs })
      const problem = keyProblem(key, config)
      return problem === undefined ? undefined : new InvalidArgument({ message: problem })
    }
    const refuse = (key: string, client: string | undefined): Effect.Effect<never, InvalidArgument | RateLimited> | undefined => {
      const refused = refusal(key, client)
      return refused === undefined ? undefined : Effect.fail(refused)
    }

    /** A Set as the coordinator's write (key, value, expiry), or the reason to refuse it. */
    const admitSet = (command: SetCommand): InvalidArgument | RateLimited | { readonly expiresAtMs: number } => {
      const refused = refusal(command.key, command.client)
      if (refused !== undefined) return refused
      const problem = valueProblem(command.value, config)
      if (problem !== undefined) return new InvalidArgument({ message: problem })
      const ttlMs = command.ttlSeconds === undefined ? defaultTtlMs : command.ttlSeconds * 1000
      return { expiresAtMs: ttlMs > 0 ? clock.unsafeCurrentTimeMillis() + ttlMs : 0 }
    }

    const set = (command: SetCommand): Effect.Effect<WriteOutcome, ApiError> => {
      const admitted = admitSet(command)
      if (admitted instanceof InvalidArgument || admitted instanceof RateLimited) return Effect.fail(admitted)
      return replication.write(command.key, command.value, admitted.expiresAtMs, command.consistency ?? "QUORUM")
    }

    const get = (key: string, consistency: Consistency | undefined, client?: string): Effect.Effect<Option.Option<FoundValue>, ApiError> =>
      refuse(key, client) ?? replication.read(key, consistency ?? "QUORUM")

    const del = (key: string, consistency: Consistency | undefined, client?: string): Effect.Effect<WriteOutcome, ApiError> =>
      refuse(key, client) ?? replication.write(key, undefined, 0, consistency ?? "QUORUM")

    /** `get` as a callback: no fiber where the coordinator needs none (see `readNow`); untraced. */
    const getNow = (key: string, consistency: Consistency | undefined, client: string | undefined, done: (exit: Exit.Exit<Option.Option<FoundValue>, ApiError>) => void): void => {
      const refused = refusal(key, client)
      if (refused !== undefined) return done(Exit.fail(refused))
      replication.readNow(key, consistency ?? "QUORUM", done)
    }

    /** `set` as a callback (see `getNow`). */
    const setNow = (command: SetCommand, done: (exit: Exit.Exit<WriteOutcome, ApiError>) => void): void => {
      const admitted = admitSet(command)
      if (admitted instanceof InvalidArgument || admitted instanceof RateLimited) return done(Exit.fail(admitted))
      replication.writeNow(command.key, command.value, admitted.expiresAtMs, command.consistency ?? "QUORUM", done)
    }

    /** `delete` as a callback (see `getNow`). */
    const deleteNow = (key: string, consistency: Consistency | undefined, client: string | undefined, done: (exit: Exit.Exit<WriteOutcome, ApiError>) => void): void => {
      const refused = refusal(key, client)
      if (refused !== undefined) return done(Exit.fail(refused))
      replication.writeNow(key, undefined, 0, consistency ?? "QUORUM", done)
    }

    return { set, get, getNow, setNow, delete: del, deleteNow } as const
  })
}) {}
