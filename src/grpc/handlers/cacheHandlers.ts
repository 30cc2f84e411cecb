import { Effect, Exit, FiberId, Option, Runtime } from "effect"
import { type CallContext, ServerError, Status } from "nice-grpc"
import { InvalidArgument } from "../../api/ApiError.js"
import type { ApiError, CacheApi } from "../../api/CacheApi.js"
import * as V from "../../clock/version.js"
import * as pb from "../../generated/pb/cache.js"
import type { Consistency } from "../../replication/consistency.js"
import type { FoundValue, WriteOutcome } from "../../replication/Coordinator.js"
import type { Metrics } from "../../telemetry/Metrics.js"
import { annotateSpan, keyHashAttribute, parentOf, rpcAttributes, TRACEPARENT } from "../../telemetry/traceContext.js"
import { statusOfExit, toServerError } from "../status.js"

const SERVICE = "pb.CacheService"


const CONSISTENCY: ReadonlyArray<Consistency | undefined> = [undefined, "ONE", "QUORUM", "ALL"]

/** The requested level; `null` for a number outside the enum. */
const consistencyOf = (level: pb.Consistency): Consistency | undefined | null =>
  level >= 0 && level < CONSISTENCY.length ? CONSISTENCY[level] : null

const badConsistency = (level: number) =>
  Effect.fail(new InvalidArgument({ message: `consistency ${level} is not one of ONE, QUORUM, ALL` }))

const NOT_FOUND = new ServerError(Status.NOT_FOUND, "key not found")

/**
 * Admission of client calls during shutdown: once `closing`, new calls are
 * refused (UNAVAILABLE) and `onIdle` is called when the last call in flight
 * ends, so the drain is signalled rather than polled.
 */
export class CallGate {
  closing = false
  inFlight = 0
  onIdle: (() => void) | undefined

  enter(): boolean {
    if (this.closing) return false
    this.inFlight++
    return true
  }

  exit(): void {
    if (--this.inFlight === 0 && this.closing) this.onIdle?.()
  }
}

const SHUTTING_DOWN = new ServerError(Status.UNAVAILABLE, "not serving: this node is shutting down")

/** What the client-facing handlers run on. */
export interface CacheEdge {
  readonly gate: CallGate
  readonly api: CacheApi
  /** Captured once at start-up; every call runs one Effect through it. */
  readonly runtime: Runtime.Runtime<never>
  readonly nowMs: () => number
  readonly metrics: Metrics
  /** Whether to open a server span per call (see `Telemetry`). */
  readonly tracing: boolean
  /** The sampling decision (see `Telemetry.sample`). */
  readonly sample: (parentSampled: boolean | undefined) => boolean
  readonly keyHash: (key: string) => number
}

type Method = "Set" | "Get" | "Delete"

/**
 * `pb.CacheService` on top of `CacheApi`: decode, run one Effect through the
 * runtime captured at start-up (interrupted if the client goes away), map
 * the outcome to a response or a status. Every call is counted and timed;
 * with tracing on it runs in a server span that continues the caller's
 * trace when its metadata carries `traceparent`.
 */
export const makeCacheHandlers = (edge: CacheEdge): pb.CacheServiceImplementation => {
  const { api, metrics, nowMs } = edge
  const fork = Runtime.runFork(edge.runtime)

  /**
   * Runs a call's Effect. The fiber starts at once and, when every replica
   * it needs is local, finishes before `runFork` returns: then there is no
   * promise to settle and no cancellation to listen for.
   */
  const run = <A>(effect: Effect.Effect<A, ApiError>, signal: AbortSignal): Exit.Exit<A, ApiError> | Promise<Exit.Exit<A, ApiError>> => {
    const fiber = fork(effect)
    const done = fiber.unsafePoll()
    if (done !== null) return done
    return new Promise((resolve) => {
      const cancel = () => fiber.unsafeInterruptAsFork(FiberId.none)
      signal.addEventListener("abort", cancel, { once: true })
      fiber.addObserver((exit) => {
        signal.removeEventListener("abort", cancel)
        resolve(exit)
      })
    })
  }

  /** The call in a server span when it is sampled (continuing the caller's trace, if it sent one); as is otherwise. */
  const traced = <A>(
    method: Method,
    key: string,
    consistency: Consistency | undefined | null,
    effect: Effect.Effect<A, ApiError>,
    context: CallContext
  ): Effect.Effect<A, ApiError> => {
    const parent = Option.getOrUndefined(parentOf(context.metadata.get(TRACEPARENT)))
    if (!edge.sample(parent?.sampled)) return effect
    return effect.pipe(
      Effect.onExit((exit) => annotateSpan({ "rpc.grpc.status_code": statusOfExit(exit) })),
      Effect.withSpan(`${SERVICE}/${method}`, {
        kind: "server",
        parent,
        captureStackTrace: false,
        attributes: {
          ...rpcAttributes(SERVICE, method),
          "cache.key_hash": keyHashAttribute(edge.keyHash(key)),
          "cache.consistency": consistency ?? "QUORUM"
        }
      })
    )
  }

  const serve = async <A>(
    method: Method,
    key: string,
    consistency: Consistency | undefined | null,
    effect: Effect.Effect<A, ApiError>,
    context: CallContext
  ): Promise<A> => {
    if (!edge.gate.enter()) throw SHUTTING_DOWN
    try {
      const started = performance.now()
      const exit = await run(edge.tracing ? traced(method, key, consistency, effect, context) : effect, context.signal)
      metrics.request(method, Status[statusOfExit(exit)], (performance.now() - started) / 1000)
      if (Exit.isSuccess(exit)) return exit.value
      throw toServerError(exit.cause)
    } finally {
      edge.gate.exit()
    }
  }

  const toGetResponse = (found: Option.Option<FoundValue>): pb.GetResponse => {
    if (Option.isNone(found)) throw NOT_FOUND
    const { expiresAtMs, value, version } = found.value
    const ttlRemainingMs = expiresAtMs === 0 ? 0 : Math.max(1, expiresAtMs - nowMs())
    return typeof value === "string"
      ? { value, version: V.copy(version), ttlRemainingMs }
      : { valueBytes: Buffer.from(value.buffer, value.byteOffset, value.byteLength), version: V.copy(version), ttlRemainingMs }
  }
  const toWriteResponse = ({ version, existed }: WriteOutcome) => ({ version: V.copy(version), existed })

  return {
    async set(request, context) {
      const consistency = consistencyOf(request.consistency)
      const effect = consistency === null ? badConsistency(request.consistency) : api.set({
        key: request.key,
        value: request.value ?? request.valueBytes,
        ttlSeconds: request.ttlSeconds,
        consistency,
        client: context.peer
      })
      const { version } = await serve("Set", request.key, consistency, effect, context)
      return { version: V.copy(version) }
    },
    async get(request, context) {
      const consistency = consistencyOf(request.consistency)
      const effect = consistency === null ? badConsistency(request.consistency) : api.get(request.key, consistency, context.peer)
      return toGetResponse(await serve("Get", request.key, consistency, effect, context))
    },
    async delete(request, context) {
      const consistency = consistencyOf(request.consistency)
      const effect = consistency === null ? badConsistency(request.consistency) : api.delete(request.key, consistency, context.peer)
      return toWriteResponse(await serve("Delete", request.key, consistency, effect, context))
    }
  }
}
