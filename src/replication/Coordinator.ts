import { Effect, Option } from "effect"
import { Hlc } from "../clock/Hlc.js"
import * as V from "../clock/version.js"
import type { Version } from "../clock/version.js"
import { Entry, type Value } from "../store/entry.js"
import { Store } from "../store/ShardedStore.js"
import type { Consistency } from "./consistency.js"
import { type ReplicationError, WriteContention } from "./ReplicationError.js"

/** A value as a read returns it. */
export interface FoundValue {
  readonly value: Value
  readonly version: Version
  /** Wall-clock ms of expiry; 0 = never. */
  readonly expiresAtMs: number
}

/** The outcome of a write or deletion. */
export interface WriteOutcome {
  readonly version: Version
  /** Whether a live value was replaced or removed. */
  readonly existed: boolean
}

/** Stale answers tolerated before a write gives up (each retry takes a newer version). */
export const MAX_STALE_RETRIES = 8


/**
 * The coordinator every client request goes through: it versions writes
 * with the HLC and applies them to the key's replicas. On a single node the
 * only replica is the local store, reached by a direct call; the cluster
 * issue turns this into quorum fan-out without changing its interface.
 */
export class Replication extends Effect.Service<Replication>()("cache/replication/Coordinator", {
  effect: Effect.gen(function*() {
    const store = yield* Store
    const hlc = yield* Hlc

    const read = (key: string, _consistency: Consistency): Effect.Effect<Option.Option<FoundValue>, ReplicationError> =>
      Effect.sync(() => {
        const found = store.read(key)
        // Whatever the read saw (value, tombstone, watermark), a later write must be newer.
        hlc.observe(found)
        return found instanceof Entry
          ? Option.some({ value: found.value, version: V.copy(found), expiresAtMs: found.expiresAtMs })
          : Option.none()
      })

    /** Writes a value, or deletes when `value` is undefined, at a fresh version. */
    const write = (
      key: string,
      value: Value | undefined,
      expiresAtMs: number,
      _consistency: Consistency
    ): Effect.Effect<WriteOutcome, ReplicationError> =>
      Effect.suspend(() => {
        for (let attempt = 0; attempt <= MAX_STALE_RETRIES; attempt++) {
          const version = hlc.next()
          const result = store.apply(key, { version, value, expiresAtMs })
          if (result._tag === "Applied") return Effect.succeed({ version, existed: result.existed })
          hlc.observe(result.current)
        }
        return Effect.fail(new WriteContention({ attempts: MAX_STALE_RETRIES + 1 }))
      })

    return { read, write } as const
  })
}) {}
