import { Effect, Option, Runtime, Stream } from "effect"
import { type Metadata, ServerError, Status } from "nice-grpc"
import { movementStatusOf } from "../status.js"
import type {
  AntiEntropyServiceImplementation,
  Member,
  MembershipServiceImplementation,
  PlacementServiceImplementation,
  ReplicaOp,
  ReplicaServiceImplementation
} from "../../generated/cluster/v1/cluster.js"
import { ReplicaResult_Kind, ReplicaServiceDefinition, StreamRequest } from "../../generated/cluster/v1/cluster.js"
import { ARC_TREE_DEPTH } from "../../antientropy/ArcTrees.js"
import * as codec from "../../peer/codec.js"
import { decodeGossip, encodeMember } from "../../peer/membershipCodec.js"
import type { PeerEndpoint } from "../../peer/PeerClient.js"
import * as placementCodec from "../../peer/placementCodec.js"
import { addressProblem } from "../../protocol/check.js"
import { messagesOf } from "../../protocol/limits.js"
import { maxDigestArcs } from "../../protocol/movement.js"
import { MAX_GOSSIP_PER_MESSAGE } from "../../config/NodeConfig.js"
import type { ProbeMessage } from "../../protocol/membership.js"
import type { PlacementRequest, PlacementResponses } from "../../protocol/placement.js"
import { endSpan, keyHashAttribute, openSpan, parentOf, rpcAttributes, type SpanFactory, TRACEPARENT } from "../../telemetry/traceContext.js"

/** What the replica side needs to continue a sampled coordinator's trace. */
export interface ReplicaTracing {
  readonly spans: SpanFactory
  readonly keyHash: (key: string) => number
}

const REPLICA_SERVICE = "cluster.v1.ReplicaService"
const ANTI_ENTROPY_SERVICE = "cluster.v1.AntiEntropyService"

/** What a Stream message that does not decode becomes, so the handler refuses it in its turn. */
const UNDECODABLE: StreamRequest = Object.freeze({ ops: [], from: "" })

/**
 * `cluster.v1.ReplicaService` whose Stream messages never fail to decode in
 * grpc-js: one that does not decode arrives as UNDECODABLE and the handler
 * ends the call with INVALID_ARGUMENT after answering the messages before
 * it. (grpc-js ends the call itself otherwise, even while the handler is
 * still answering earlier messages; then the caller got no status at all.)
 */
export const ReplicaServiceOrdered = {
  ...ReplicaServiceDefinition,
  methods: {
    ...ReplicaServiceDefinition.methods,
    stream: {
      ...ReplicaServiceDefinition.methods.stream,
      requestType: {
        ...StreamRequest,
        decode: (input: Uint8Array, length?: number): StreamRequest => {
          try {
            return StreamRequest.decode(input, length)
          } catch {
            return UNDECODABLE
          }
        }
      }
    }
  }
} as const satisfies typeof ReplicaServiceDefinition

/**
 * `cluster.v1.ReplicaService`: each op of a batch (a Batch call, or one
 * message of a Stream) applied in order, answered in order. A batch routed
 * with a newer ring epoch than this node's waits until this node has learnt
 * that configuration from the sender (a replica never answers for an epoch
 * it does not know). With tracing on, an op that carries a sampled trace
 * context gets its own server span, a child of the coordinator's span for
 * that call.
 */
export const makeReplicaHandlers = (
  endpoint: PeerEndpoint,
  runtime: Runtime.Runtime<never>,
  /** Bytes of results one Stream message carries; a larger answer goes out in several (`more`). */
  maxAnswerBytes: number,
  tracing?: ReplicaTracing
): ReplicaServiceImplementation => {
  const run = Runtime.runPromise(runtime)
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
  /** Catches up first when the batch was routed with a newer epoch than this node's. */
  const applyAll = async (ops: ReadonlyArray<ReplicaOp>, from: string) => {
    let newest = 0
    for (const op of ops) if (op.epoch > newest) newest = op.epoch
    if (newest > endpoint.epoch() && addressProblem(from) === undefined) await run(endpoint.catchUp(newest, from))
    const results = ops.map(apply)
    const refused = results.filter((r) => r.kind === ReplicaResult_Kind.KIND_REFUSED)
    if (refused.length > 0 && endpoint.refused !== undefined) await run(endpoint.refused(from, refused.length, refused[0]!.reason))
    return { results }
  }
  return {
    async batch(request) {
      return applyAll(request.ops, request.from)
    },
    // Each message answered in order as it arrives; the coordinator matches answers to batches by position.
    async *stream(requests) {
      let received = 0
      for await (const request of requests) {
        received++
        if (request === UNDECODABLE) throw new ServerError(Status.INVALID_ARGUMENT, `Stream message ${received} does not decode`)
        const { results } = await applyAll(request.ops, request.from)
        const parts = messagesOf(results, codec.resultBytes, results.length, maxAnswerBytes)
        if (parts.length === 0) yield { results, more: false }
        for (let i = 0; i < parts.length; i++) yield { results: parts[i]!.items, more: i < parts.length - 1 }
      }
    }
  }
}

/** A probe off the wire, checked: a well-formed sender and no more gossip than a message may carry. */
const probeOf = (request: {
  readonly from: string
  readonly target: string
  readonly gossip: ReadonlyArray<Member>
  readonly generation: number
  readonly epoch: number
}): ProbeMessage => {
  const problem = addressProblem(request.from)
  if (problem !== undefined) throw new ServerError(Status.INVALID_ARGUMENT, `sender: ${problem}`)
  const gossip = decodeGossip(request.gossip)
  if (gossip === undefined) {
    throw new ServerError(Status.INVALID_ARGUMENT, `${request.gossip.length} gossip updates; a message carries at most ${MAX_GOSSIP_PER_MESSAGE}`)
  }
  return { from: request.from, generation: request.generation, epoch: request.epoch, target: request.target, gossip }
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
      if (request.target !== self) throw new ServerError(Status.FAILED_PRECONDITION, `this is ${self}, not ${request.target.slice(0, 300)}`)
      const ack = await exec(endpoint.ping(probeOf(request)), signal)
      return { generation: ack.generation, epoch: ack.epoch, gossip: ack.gossip.map(encodeMember) }
    },
    async pingReq(request, { signal }) {
      const reply = await exec(endpoint.pingReq(probeOf(request)), signal)
      return { ack: reply.ack, generation: reply.generation, gossip: reply.gossip.map(encodeMember) }
    }
  }
}

/** `cluster.v1.PlacementService`: ring agreement, answered by the ring's placement core. */
export const makePlacementHandlers = (endpoint: PeerEndpoint, runtime: Runtime.Runtime<never>): PlacementServiceImplementation => {
  const run = Runtime.runPromise(runtime)
  const answer = async <K extends PlacementRequest["kind"]>(request: PlacementRequest | undefined, kind: K, signal: AbortSignal) => {
    if (request === undefined) throw new ServerError(Status.INVALID_ARGUMENT, `malformed ${kind} request`)
    return (await run(endpoint.placement(request), { signal })) as PlacementResponses[K]
  }
  return {
    async hello(request, { signal }) {
      return placementCodec.encodeHelloResponse(await answer(placementCodec.decodeHello(request), "hello", signal))
    },
    async prepare(request, { signal }) {
      return placementCodec.encodePrepareResponse(await answer(placementCodec.decodePrepare(request), "prepare", signal))
    },
    async accept(request, { signal }) {
      return placementCodec.encodeAcceptResponse(await answer(placementCodec.decodeAccept(request), "accept", signal))
    },
    async commit(request, { signal }) {
      return placementCodec.encodeCommitResponse(await answer(placementCodec.decodeCommit(request), "commit", signal))
    },
    async change(request, { signal }) {
      return placementCodec.encodeChangeResponse(await answer(placementCodec.decodeChange(request), "change", signal))
    }
  }
}

/**
 * `cluster.v1.AntiEntropyService`: a pull streamed chunk by chunk. A refusal
 * (rings differ) gets its status from `movementStatusOf`.
 */
export const makeAntiEntropyHandlers = (
  endpoint: PeerEndpoint,
  runtime: Runtime.Runtime<never>,
  tracing: boolean,
  /** Bytes one Digests answer may take: requests naming more arcs than fit are refused. */
  maxAnswerBytes: number
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
      const problem = addressProblem(request.requester)
      if (problem !== undefined || request.epoch === 0) {
        throw new ServerError(Status.INVALID_ARGUMENT, "a pull needs a requester (host:port) and the ring epoch it pulls for")
      }
      const pulled = endpoint.pull({ requester: request.requester, epoch: request.epoch, ranges: request.ranges, floors: request.floors })
      const options = spanOptions("Pull", metadata)
      const chunks = (options === undefined ? pulled : Stream.withSpan(pulled, name("Pull"), options)).pipe(
        Stream.mapError((error) => new ServerError(movementStatusOf(error), error.message)),
        Stream.map(codec.encodePullChunk)
      )
      // Each chunk is produced only when the previous one has been written: back-pressure end to end.
      yield* Stream.toAsyncIterableRuntime(chunks, runtime)
    },
    async digests(request, { metadata, signal }) {
      if (request.level > ARC_TREE_DEPTH) {
        throw new ServerError(Status.INVALID_ARGUMENT, `no level ${request.level}: arc trees have ${ARC_TREE_DEPTH} levels below the root`)
      }
      const maxArcs = maxDigestArcs(request.level, maxAnswerBytes)
      if (request.arcs.length > maxArcs) {
        throw new ServerError(Status.INVALID_ARGUMENT, `${request.arcs.length} arcs at level ${request.level}; one answer fits at most ${maxArcs}`)
      }
      const arcs = [...new Set(request.arcs)]
      const digests = Effect.either(endpoint.digests({ epoch: request.epoch, arcs, level: request.level }))
      const options = spanOptions("Digests", metadata)
      const answer = await Runtime.runPromise(runtime)(
        options === undefined ? digests : Effect.withSpan(digests, name("Digests"), options),
        { signal }
      )
      if (answer._tag === "Left") throw new ServerError(movementStatusOf(answer.left), answer.left.message)
      return { arcs: answer.right.map(codec.encodeArcDigests) }
    }
  }
}

