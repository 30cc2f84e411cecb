import { Option, type Tracer } from "effect"
import type { PeerError } from "../peer/PeerError.js"
import { endSpan, openSpan, type SpanFactory, traceparentOf } from "../telemetry/traceContext.js"
import type { ReplicaReply, ReplicaRequest } from "../protocol/replica.js"

/**
 * The child spans of one sampled client call's replica calls: one per
 * replica, opened when the call is sent and ended with the replica's
 * answer (stragglers end late, after the call has answered). A remote call
 * carries its span's trace context, so the replica's own span joins the
 * trace.
 */
export class ReplicaSpans {
  private readonly open = new Map<string, Tracer.Span>()

  constructor(
    private readonly factory: SpanFactory,
    private readonly parent: Tracer.AnySpan,
    private readonly op: "read" | "write"
  ) {}

  /** Opens the span of the call to `address`; returns the request to send, carrying its context when remote. */
  send(address: string, local: boolean, request: ReplicaRequest): ReplicaRequest {
    const span = openSpan(this.factory, `replica ${this.op}`, local ? "internal" : "client", Option.some(this.parent), {
      "cache.replica": address,
      "cache.replica.local": local
    })
    if (span === undefined) return request
    this.open.set(address, span)
    return local ? request : { ...request, traceparent: traceparentOf(span) }
  }

  /** Ends the span of the call to `address` with its answer. */
  answered(address: string, reply: ReplicaReply | PeerError): void {
    const span = this.open.get(address)
    if (span === undefined) return
    this.open.delete(address)
    span.attribute("cache.replica.reply", reply._tag)
    endSpan(this.factory, span, reply._tag === "PeerUnavailable" || reply._tag === "PeerTimeout" ? reply : undefined)
  }
}
