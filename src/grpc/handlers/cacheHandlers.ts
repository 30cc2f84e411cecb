import type * as grpc from "@grpc/grpc-js"
import { type Cause, Effect, Exit, FiberId, Option, Runtime } from "effect"
import { Status } from "nice-grpc"
import { InvalidArgument } from "../../api/ApiError.js"
import type { ApiError, CacheApi } from "../../api/CacheApi.js"
import * as V from "../../clock/version.js"
import * as pb from "../../generated/pb/cache.js"
import type { Consistency } from "../../replication/consistency.js"
import type { FoundValue, WriteOutcome } from "../../replication/Coordinator.js"
import type { Metrics } from "../../telemetry/Metrics.js"
import { annotateSpan, keyHashAttribute, parentOf, rpcAttributes, TRACEPARENT } from "../../telemetry/traceContext.js"
import { wellFormed } from "../../protocol/text.js"
import { statusOfExit, toServerError } from "../status.js"
import { encodeDeleteResponse, encodeGetResponse, encodeSetResponse, generated } from "../responseEncoding.js"

const SERVICE = "pb.CacheService"

const CONSISTENCY: ReadonlyArray<Consistency | undefined> = [undefined, "ONE", "QUORUM", "ALL"]

/** The requested level; `null` for a number outside the enum. */
const consistencyOf = (level: pb.Consistency): Consistency | undefined | null =>
  level >= 0 && level < CONSISTENCY.length ? CONSISTENCY[level] : null

const badConsistency = (level: number) =>
  Effect.fail(new InvalidArgument({ message: `consistency ${level} is not one of ONE, QUORUM, ALL` }))

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

/** A status for grpc-js; details made well-formed, as grpc-js percent-encodes them with `encodeURI`, which throws on a lone surrogate. */
const statusObject = (code: Status, details: string): Partial<grpc.StatusObject> => ({
  code: code as number as grpc.status,
  details: wellFormed(details) ? details : (details as unknown as { toWellFormed(): string }).toWellFormed()
})
const SHUTTING_DOWN = statusObject(Status.UNAVAILABLE, "not serving: this node is shutting down")
const NOT_FOUND = statusObject(Status.NOT_FOUND, "key not found")
const INTERNAL = statusObject(Status.INTERNAL, "internal error")

/** The status a failed call's cause is answered with. */
const failureStatus = (cause: Cause.Cause<ApiError>) => {
  const error = toServerError(cause)
  return statusObject(error.code, error.details)
}

const method = <Req, Res>(
  name: Method,
  request: pb.MessageFns<Req>,
  response: pb.MessageFns<Res>,
  encodeResponse: (message: Res) => Buffer
): grpc.MethodDefinition<Req, Res> => ({
  path: `/${SERVICE}/${name}`,
  requestStream: false,
  responseStream: false,
  requestSerialize: (message: Req) => generated(request, message),
  requestDeserialize: (bytes: Buffer) => request.decode(bytes),
  responseSerialize: encodeResponse,
  responseDeserialize: (bytes: Buffer) => response.decode(bytes)
})

/**
 * `pb.CacheService` as grpc-js registers it (the same wire format as the
 * generated definition): messages straight into Buffers grpc-js sends as
 * they are (nice-grpc copied every response once more), responses by
 * responseEncoding.ts.
 */
export const CacheServiceGrpcJs = {
  Set: method("Set", pb.SetRequest, pb.SetResponse, encodeSetResponse(pb.SetResponse)),
  Get: method("Get", pb.GetRequest, pb.GetResponse, encodeGetResponse(pb.GetResponse)),
  Delete: method("Delete", pb.DeleteRequest, pb.DeleteResponse, encodeDeleteResponse(pb.DeleteResponse))
} satisfies grpc.ServiceDefinition

export interface CacheHandlers extends grpc.UntypedServiceImplementation {
  Set: grpc.handleUnaryCall<pb.SetRequest, pb.SetResponse>
  Get: grpc.handleUnaryCall<pb.GetRequest, pb.GetResponse>
  Delete: grpc.handleUnaryCall<pb.DeleteRequest, pb.DeleteResponse>
}

/**
 * `pb.CacheService` on top of `CacheApi`, as plain grpc-js handlers (the
 * hot path: see grpcJsServer.ts): decode, run one Effect through the
 * runtime captured at start-up (interrupted if the client goes away), map
 * the outcome to a response or a status. Every call is counted and timed;
 * with tracing on it runs in a server span that continues the caller's
 * trace when its metadata carries `traceparent`.
 */
export const makeCacheHandlers = (edge: CacheEdge): CacheHandlers => {
  const { api, metrics, nowMs } = edge
  const fork = Runtime.runFork(edge.runtime)

  /** The call in a server span when it is sampled (continuing the caller's trace, if it sent one); as is otherwise. */
  const traced = <A>(
    method: Method,
    key: string,
    consistency: Consistency | undefined | null,
    effect: Effect.Effect<A, ApiError>,
    metadata: grpc.Metadata
  ): Effect.Effect<A, ApiError> => {
    const header = metadata.get(TRACEPARENT)[0]
    const parent = Option.getOrUndefined(parentOf(typeof header === "string" ? header : undefined))
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

  /** How a call's outcome arrives: `done` is called once, maybe before this returns. */
  type Outcome<A> = (done: (exit: Exit.Exit<A, ApiError>) => void) => void

  /**
   * A call's Effect as an outcome. The fiber starts at once and, when every
   * replica it needs is local, finishes before `runFork` returns: then there
   * is no cancellation to listen for. Otherwise the client going away
   * interrupts it.
   */
  const inFiber = <A>(effect: Effect.Effect<A, ApiError>, call: grpc.ServerUnaryCall<unknown, unknown>): Outcome<A> => (done) => {
    const fiber = fork(effect)
    const exit = fiber.unsafePoll()
    if (exit !== null) return done(exit)
    const cancel = () => fiber.unsafeInterruptAsFork(FiberId.none)
    call.once("cancelled", cancel)
    fiber.addObserver((exit) => {
      call.removeListener("cancelled", cancel)
      done(exit)
    })
  }

  /** Admits the call, waits for its outcome, counts and times it, and answers with `respond`'s message (none: NOT_FOUND). */
  const serve = <A, R>(method: Method, outcome: Outcome<A>, callback: grpc.sendUnaryData<R>, respond: (value: A) => R | undefined): void => {
    if (!edge.gate.enter()) return callback(SHUTTING_DOWN)
    const started = performance.now()
    let answered = false
    const finish = (exit: Exit.Exit<A, ApiError>) => {
      if (answered) return
      answered = true
      edge.gate.exit()
      metrics.request(method, Status[statusOfExit(exit)], (performance.now() - started) / 1000)
      if (Exit.isFailure(exit)) return callback(failureStatus(exit.cause))
      let response: R | undefined
      try {
        response = respond(exit.value)
      } catch {
        return callback(INTERNAL)
      }
      return response === undefined ? callback(NOT_FOUND) : callback(null, response)
    }
    try {
      outcome(finish)
    } catch (defect) {
      // A bug, not a refusal: INTERNAL, and the call leaves the gate as every other does.
      finish(Exit.die(defect))
    }
  }

  /** The call's Effect, in a server span when tracing samples it. */
  const effectOf = <A>(
    method: Method,
    key: string,
    consistency: Consistency | undefined | null,
    effect: Effect.Effect<A, ApiError>,
    call: grpc.ServerUnaryCall<unknown, unknown>
  ): Outcome<A> => inFiber(edge.tracing ? traced(method, key, consistency, effect, call.metadata) : effect, call)

  const toGetResponse = (found: Option.Option<FoundValue>): pb.GetResponse | undefined => {
    if (Option.isNone(found)) return undefined
    const { expiresAtMs, value, version } = found.value
    const ttlRemainingMs = expiresAtMs === 0 ? 0 : Math.max(1, expiresAtMs - nowMs())
    return typeof value === "string"
      ? { value, valueBytes: undefined, version: V.copy(version), ttlRemainingMs }
      : { value: undefined, valueBytes: Buffer.from(value.buffer, value.byteOffset, value.byteLength), version: V.copy(version), ttlRemainingMs }
  }
  const toSetResponse = ({ version }: WriteOutcome): pb.SetResponse => ({ version: V.copy(version) })
  const toDeleteResponse = ({ version, existed }: WriteOutcome): pb.DeleteResponse => ({ version: V.copy(version), existed })

  /**
   * How a call runs: a consistency level outside the enum fails at once; a
   * traced call runs its Effect (in a span when sampled); an untraced one
   * runs from the replicas' callbacks (`CacheApi.getNow` and the like),
   * without a fiber unless it needs another round.
   */
  const outcomeOf = <A>(
    method: Method,
    call: grpc.ServerUnaryCall<{ readonly key: string; readonly consistency: pb.Consistency }, unknown>,
    effect: (consistency: Consistency | undefined) => Effect.Effect<A, ApiError>,
    now: (consistency: Consistency | undefined, done: (exit: Exit.Exit<A, ApiError>) => void) => void
  ): Outcome<A> => {
    const { key, consistency: level } = call.request
    const consistency = consistencyOf(level)
    if (consistency === null) return effectOf(method, key, consistency, badConsistency(level), call)
    if (edge.tracing) return effectOf(method, key, consistency, effect(consistency), call)
    return (done) => now(consistency, done)
  }

  return {
    Set(call, callback) {
      const request = call.request
      const command = (consistency: Consistency | undefined) => ({
        key: request.key,
        value: request.value ?? request.valueBytes,
        ttlSeconds: request.ttlSeconds,
        consistency,
        client: call.getPeer()
      })
      const outcome = outcomeOf("Set", call, (c) => api.set(command(c)), (c, done) => api.setNow(command(c), done))
      serve("Set", outcome, callback, toSetResponse)
    },
    Get(call, callback) {
      const { key } = call.request
      const outcome = outcomeOf("Get", call, (c) => api.get(key, c, call.getPeer()), (c, done) => api.getNow(key, c, call.getPeer(), done))
      serve("Get", outcome, callback, toGetResponse)
    },
    Delete(call, callback) {
      const { key } = call.request
      const outcome = outcomeOf("Delete", call, (c) => api.delete(key, c, call.getPeer()), (c, done) => api.deleteNow(key, c, call.getPeer(), done))
      serve("Delete", outcome, callback, toDeleteResponse)
    }
  }
}
