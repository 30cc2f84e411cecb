import { Effect, Option, Runtime, Stream } from "effect"
import { type Metadata, ServerError, Status } from "nice-grpc"
import type {
  AntiEntropyServiceImplementation,
  MembershipServiceImplementation,
  ReplicaOp,
  ReplicaServiceImplementation
} from "../../generated/cluster/v1/cluster.js"
import { ARC_TREE_DEPTH } from "../../antientropy/ArcTrees.js"
import * as codec from "../../peer/codec.js"
import type { PeerEndpoint } from "../../peer/PeerClient.js"
import { endSpan, keyHashAttribute, openSpan, parentOf, rpcAttributes, type SpanFactory, TRACEPARENT } from "../../telemetry/traceContext.js"

/** What the replica side needs to continue a sampled coordinator's trace. */
export interface ReplicaTracing {
  readonly spans: SpanFactory
  readonly keyHash: (key: string) => number
}

const REPLICA_SERVICE = "cluster.v1.ReplicaService"
const ANTI_ENTROPY_SERVICE = "cluster.v1.AntiEntropyService"

/**
 * `cluster.v1.ReplicaService`: each op of a batch (a Batch call, or one
 * message of a Stream) applied in order, answered in order. With tracing on, an op that carries a sampled trace context gets
 * its own server span, a child of the coordinator's span for that call.
 */
export const makeReplicaHandlers = (endpoint: PeerEndpoint, tracing?: ReplicaTracing): ReplicaServiceImplementation => {
  const apply = (op: ReplicaOp) => {
    const request = codec.decodeRequest(op)
    if (tracing === undefined || request.traceparent === undefined) return codec.encodeReply(endpoint.replicate(request))
    const span = openSpan(tracing.spans, `${REPLICA_SERVICE}/Batch`, "server", parentOf(request.traceparent), {
      ...rpcAttributes(REPLICA_SERVICE, "Batch"),
      "cache.op": request.write === undefined ? "read" : "write",
      "cache.key_hash": keyHashAttribute(tracing.keyHash(request.key))
    })
    const reply = endpoint.replicate(request)
    if (span !== undefined) {
      span.attribute("cache.replica.reply", reply._tag)
      endSpan(tracing.spans, span)
    }
    return codec.encodeReply(reply)
  }
  return {
    async batch(request) {
      return { results: request.ops.map(apply) }
    },
    // Each message answered in order as it arrives; the coordinator matches answers to batches by position.
    async *stream(requests) {
      for await (const request of requests) yield { results: request.ops.map(apply) }
    }
  }
}

/** `cluster.v1.MembershipService`, answered by the SWIM layer. */
export const makeMembershipHandlers = (
  endpoint: PeerEndpoint,
  self: string,
  runtime: Runtime.Runtime<never>
): MembershipServiceImplementation => {
  const run = Runtime.runPromise(runtime)
  const exec = <A>(effect: Effect.Effect<A>, signal: AbortSignal) => run(effect, { signal })
  return {
    async ping(request, { signal }) {
      // A probe meant for another address (this one was restarted elsewhere) must not count as an ack.
      if (request.target !== self) throw new ServerError(Status.FAILED_PRECONDITION, `this is ${self}, not ${request.target}`)
      const gossip = await exec(endpoint.ping({ from: request.from, target: request.target, gossip: codec.decodeMembers(request.gossip) }), signal)
      return { gossip: gossip.map(codec.encodeMember) }
    },
    async pingReq(request, { signal }) {
      const reply = await exec(endpoint.pingReq({ from: request.from, target: request.target, gossip: codec.decodeMembers(request.gossip) }), signal)
      return { ack: reply.ack, gossip: reply.gossip.map(codec.encodeMember) }
    },
    async join(request, { signal }) {
      const joiner = request.self === undefined ? undefined : codec.decodeMember(request.self)
      if (joiner === undefined) throw new ServerError(Status.INVALID_ARGUMENT, "join without a valid member")
      const members = await exec(endpoint.join(joiner), signal)
      return { members: members.map(codec.encodeMember) }
    }
  }
}

/**
 * `cluster.v1.AntiEntropyService`: a pull streamed chunk by chunk. A refusal
 * (rings differ, operations still in flight) is FAILED_PRECONDITION: the
 * puller retries later; UNAVAILABLE would make its client drop a healthy
 * connection, failing every call in flight on it.
 */
export const makeAntiEntropyHandlers = (
  endpoint: PeerEndpoint,
  runtime: Runtime.Runtime<never>,
  tracing: boolean
): AntiEntropyServiceImplementation => {
  /** With tracing on, a call that carries a sampled trace context runs in a server span of that trace. */
  const spanOptions = (method: string, metadata: Metadata) => {
    const parent = tracing ? parentOf(metadata.get(TRACEPARENT)) : Option.none()
    return Option.isSome(parent) && parent.value.sampled
      ? { kind: "server" as const, parent: parent.value, captureStackTrace: false, attributes: rpcAttributes(ANTI_ENTROPY_SERVICE, method) }
      : undefined
  }
  const name = (method: string) => `${ANTI_ENTROPY_SERVICE}/${method}`
  return {
    async *pull(request, { metadata }) {
      if (request.requester === "" || request.members.length === 0) {
        throw new ServerError(Status.INVALID_ARGUMENT, "a pull needs a requester and the members of its ring")
      }
      const pulled = endpoint.pull({ requester: request.requester, members: request.members, ranges: request.ranges })
      const options = spanOptions("Pull", metadata)
      const chunks = (options === undefined ? pulled : Stream.withSpan(pulled, name("Pull"), options)).pipe(
        Stream.mapError((reason) => new ServerError(Status.FAILED_PRECONDITION, reason)),
        Stream.map(codec.encodePullChunk)
      )
      // Each chunk is produced only when the previous one has been written: back-pressure end to end.
      yield* Stream.toAsyncIterableRuntime(chunks, runtime)
    },
    async digests(request, { metadata, signal }) {
      if (request.level > ARC_TREE_DEPTH) {
        throw new ServerError(Status.INVALID_ARGUMENT, `no level ${request.level}: arc trees have ${ARC_TREE_DEPTH} levels below the root`)
      }
      const digests = Effect.either(endpoint.digests({ members: request.members, arcs: request.arcs, level: request.level }))
      const options = spanOptions("Digests", metadata)
      const arcs = await Runtime.runPromise(runtime)(
        options === undefined ? digests : Effect.withSpan(digests, name("Digests"), options),
        { signal }
      )
      if (arcs._tag === "Left") throw new ServerError(Status.FAILED_PRECONDITION, arcs.left)
      return { arcs: arcs.right.map(codec.encodeArcDigests) }
    }
  }
}

