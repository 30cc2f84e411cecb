import * as Headers from "@effect/platform/Headers"
import * as HttpTraceContext from "@effect/platform/HttpTraceContext"
import { type Clock, Context, Effect, Exit, Option, Tracer } from "effect"

/**
 * The span the current fiber runs in, if any. Unlike `Effect.currentSpan`
 * it does not fail (and build an exception) when there is none: it runs on
 * every client call while tracing is on.
 */
export const currentSpan: Effect.Effect<Tracer.AnySpan | undefined> = Effect.map(
  Effect.serviceOption(Tracer.ParentSpan),
  Option.getOrUndefined
)

/** Sets attributes on the current span; nothing when there is none (and, unlike `Effect.annotateCurrentSpan`, no exception built). */
export const annotateSpan = (attributes: Record<string, unknown>): Effect.Effect<void> =>
  Effect.map(currentSpan, (span) => {
    if (span?._tag !== "Span") return
    for (const key in attributes) span.attribute(key, attributes[key])
  })

/** The W3C trace-context header, in gRPC metadata as in HTTP. */
export const TRACEPARENT = "traceparent"

/** The caller's span from a W3C `traceparent` value; None when absent or malformed. */
export const parentOf = (traceparent: string | undefined): Option.Option<Tracer.ExternalSpan> =>
  traceparent === undefined || traceparent === "" ? Option.none() : HttpTraceContext.w3c(Headers.fromInput({ [TRACEPARENT]: traceparent }))

/** The W3C `traceparent` value that makes `span` the parent of the receiver's spans. */
export const traceparentOf = (span: Tracer.AnySpan): string =>
  `00-${span.traceId}-${span.spanId}-${span.sampled ? "01" : "00"}`

/** A key's ring hash as spans show it: keys may be personal data, their hashes locate them on the ring all the same. */
export const keyHashAttribute = (hash: number): string => hash.toString(16).padStart(8, "0")

/** OpenTelemetry RPC semantic-convention attributes of a gRPC call. */
export const rpcAttributes = (service: string, method: string) => ({
  "rpc.system": "grpc",
  "rpc.service": service,
  "rpc.method": method
})

/** What opening spans outside Effect code takes: the installed tracer and the clock. */
export interface SpanFactory {
  readonly tracer: Tracer.Tracer
  readonly clock: Clock.Clock
}

/**
 * Opens a span continuing the trace in `traceparent` (a replica op, a peer
 * call's metadata), for synchronous code that cannot run an Effect span;
 * undefined when there is no sampled caller.
 */
export const openSpan = (
  factory: SpanFactory,
  name: string,
  kind: Tracer.SpanKind,
  parent: Option.Option<Tracer.AnySpan>,
  attributes: Record<string, unknown>
): Tracer.Span | undefined => {
  if (Option.isNone(parent) || !parent.value.sampled) return undefined
  const span = factory.tracer.span(name, parent, Context.empty(), [], factory.clock.unsafeCurrentTimeNanos(), kind)
  for (const key in attributes) span.attribute(key, attributes[key])
  return span
}

/** Ends a span opened by `openSpan`, failed with `error` if given. */
export const endSpan = (factory: SpanFactory, span: Tracer.Span, error?: unknown): void =>
  span.end(factory.clock.unsafeCurrentTimeNanos(), error === undefined ? Exit.void : Exit.fail(error))
