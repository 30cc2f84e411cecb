import { Effect, Exit, Option, Runtime } from "effect"
import { ServerError, Status } from "nice-grpc"
import { InvalidArgument } from "../../api/ApiError.js"
import type { ApiError, CacheApi } from "../../api/CacheApi.js"
import type { Version } from "../../clock/version.js"
import * as pb from "../../generated/pb/cache.js"
import type { Consistency } from "../../replication/consistency.js"
import type { FoundValue, WriteOutcome } from "../../replication/Coordinator.js"
import { toServerError } from "../status.js"

const toPbVersion = (v: Version): pb.Version => ({ hlc: v.hlc, nodeId: v.nodeId, generation: v.generation })

const CONSISTENCY: ReadonlyArray<Consistency | undefined> = [undefined, "ONE", "QUORUM", "ALL"]

/** The requested level; `null` for a number outside the enum. */
const consistencyOf = (level: pb.Consistency): Consistency | undefined | null =>
  level >= 0 && level < CONSISTENCY.length ? CONSISTENCY[level] : null

const badConsistency = (level: number) =>
  Effect.fail(new InvalidArgument({ message: `consistency ${level} is not one of ONE, QUORUM, ALL` }))

const NOT_FOUND = new ServerError(Status.NOT_FOUND, "key not found")

/**
 * `pb.CacheService` on top of `CacheApi`: decode, run one Effect through the
 * runtime captured at start-up (interrupted if the client goes away), map
 * the outcome to a response or a status.
 */
export const makeCacheHandlers = (
  api: CacheApi,
  runtime: Runtime.Runtime<never>,
  nowMs: () => number
): pb.CacheServiceImplementation => {
  const run = Runtime.runPromiseExit(runtime)
  const execute = async <A>(effect: Effect.Effect<A, ApiError>, signal: AbortSignal): Promise<A> => {
    const exit = await run(effect, { signal })
    if (Exit.isSuccess(exit)) return exit.value
    throw toServerError(exit.cause)
  }
  const toWriteResponse = ({ version, existed }: WriteOutcome) => ({ version: toPbVersion(version), existed })
  const toGetResponse = (found: Option.Option<FoundValue>): pb.GetResponse => {
    if (Option.isNone(found)) throw NOT_FOUND
    const { expiresAtMs, value, version } = found.value
    const ttlRemainingMs = expiresAtMs === 0 ? 0 : Math.max(1, expiresAtMs - nowMs())
    return typeof value === "string"
      ? { value, version: toPbVersion(version), ttlRemainingMs }
      : { valueBytes: Buffer.from(value.buffer, value.byteOffset, value.byteLength), version: toPbVersion(version), ttlRemainingMs }
  }

  return {
    async set(request, { signal }) {
      const consistency = consistencyOf(request.consistency)
      const effect = consistency === null ? badConsistency(request.consistency) : api.set({
        key: request.key,
        value: request.value ?? request.valueBytes,
        ttlSeconds: request.ttlSeconds,
        consistency
      })
      const { version } = await execute(effect, signal)
      return { version: toPbVersion(version) }
    },
    async get(request, { signal }) {
      const consistency = consistencyOf(request.consistency)
      const effect = consistency === null ? badConsistency(request.consistency) : api.get(request.key, consistency)
      return toGetResponse(await execute(effect, signal))
    },
    async delete(request, { signal }) {
      const consistency = consistencyOf(request.consistency)
      const effect = consistency === null ? badConsistency(request.consistency) : api.delete(request.key, consistency)
      return toWriteResponse(await execute(effect, signal))
    }
  }
}
