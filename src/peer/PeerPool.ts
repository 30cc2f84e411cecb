import { messagesOf, wireBytes } from "../protocol/limits.js"
import { decodeInvalidUtf8AsIllFormed } from "../protocol/text.js"
import { Duration, Effect, Layer, Option, Redacted, Schedule, Stream, type Tracer } from "effect"
import { type Channel, ClientError, createChannel, createClient, Metadata, Status } from "nice-grpc"
import { messageBudgetBytes, NodeConfig, selfAddress } from "../config/NodeConfig.js"
import {
  AntiEntropyServiceDefinition,
  MembershipServiceDefinition,
  PlacementServiceDefinition,
  type ReplicaResult,
  ReplicaServiceDefinition
} from "../generated/cluster/v1/cluster.js"
import type { PlacementRequest, PlacementResponse } from "../protocol/placement.js"
import type { ReplicaReply, ReplicaRequest } from "../protocol/replica.js"
import * as codec from "./codec.js"
import { decodeGossip, encodeMember } from "./membershipCodec.js"
import * as placementCodec from "./placementCodec.js"
import { type PeerClientShape, PeerClient } from "./PeerClient.js"
import { CLUSTER_SECRET_HEADER } from "../protocol/headers.js"
import { type PeerError, PeerTimeout, PeerUnavailable } from "./PeerError.js"
import { ReplicaStream } from "./replicaStream.js"
import { Tls } from "../security/Tls.js"
import { Metrics } from "../telemetry/Metrics.js"
import { Telemetry } from "../telemetry/Telemetry.js"
import { currentSpan, TRACEPARENT, traceparentOf } from "../telemetry/traceContext.js"

/** Stream messages to one peer awaiting answers at a time; batches made meanwhile wait and leave together. */
const STREAM_OUTSTANDING = 1

const RECONNECT_BACKOFF_MIN_MS = 100
/** How long replica batches to a peer whose connection failed fail at once before it is dialled again. */
const UNREACHABLE_PAUSE_MS = 200
const RECONNECT_BACKOFF_MAX_MS = 1000

interface Peer {
  readonly channel: Channel
  readonly replica: ReturnType<typeof createClient<typeof ReplicaServiceDefinition>>
  readonly membership: ReturnType<typeof createClient<typeof MembershipServiceDefinition>>
  readonly antiEntropy: ReturnType<typeof createClient<typeof AntiEntropyServiceDefinition>>
  readonly placement: ReturnType<typeof createClient<typeof PlacementServiceDefinition>>
}

interface Pending {
  readonly request: ReplicaRequest
  readonly onDone: (reply: ReplicaReply | PeerError) => void
}

/** Turns whatever a nice-grpc call threw into one domain error. */
export const toPeerError = (address: string, timeoutMs: number, error: unknown): PeerError => {
  // nice-grpc rejects with an AbortError when the deadline signal fires.
  if (error instanceof Error && error.name === "AbortError") return new PeerTimeout({ address, timeoutMs })
  if (error instanceof ClientError) {
    return error.code === Status.DEADLINE_EXCEEDED
      ? new PeerTimeout({ address, timeoutMs })
      : new PeerUnavailable({ address, reason: `${Status[error.code]}: ${error.details}` })
  }
  return new PeerUnavailable({ address, reason: error instanceof Error ? error.message : String(error) })
}

/**
 * Peer calls over gRPC: one channel per peer, opened on first use and
 * closed when the peer leaves or the scope closes. Replica requests for one
 * peer made in the same event-loop turn go out as one message (at most
 * PEER_BATCH_MAX operations) of that peer's long-lived Stream call, or as
 * one Batch call to a peer without Stream.
 */
export const layerGrpc: Layer.Layer<PeerClient, never, NodeConfig | Telemetry | Metrics | Tls> = Layer.scoped(
  PeerClient,
  Effect.gen(function*() {
    const config = yield* NodeConfig
    const timeoutMs = Duration.toMillis(config.rpcTimeout)
    const { tracing } = yield* Telemetry
    const clock = yield* Effect.clock
    const metrics = yield* Metrics
    // TLS (mutual with PEER_TLS_*) when this node's port speaks it: the cluster's nodes are configured alike.
    const { peer: channelCredentials } = yield* Tls
    const self = selfAddress(config)
    const secret = Option.map(config.clusterSecret, Redacted.value)
    const metadata = Option.match(secret, {
      onNone: () => undefined,
      onSome: (value) => Metadata({ [CLUSTER_SECRET_HEADER]: value })
    })
    /** Call options: the deadline, the cluster secret, and the caller's trace context when it is sampled. */
    const options = (deadlineMs = timeoutMs, span?: Tracer.AnySpan) => {
      if (span === undefined || !span.sampled) {
        return metadata === undefined ? { signal: AbortSignal.timeout(deadlineMs) } : { signal: AbortSignal.timeout(deadlineMs), metadata }
      }
      const traced = Metadata({ [TRACEPARENT]: traceparentOf(span) })
      if (Option.isSome(secret)) traced.set(CLUSTER_SECRET_HEADER, secret.value)
      return { signal: AbortSignal.timeout(deadlineMs), metadata: traced }
    }
    /** The current span, looked up only when tracing is on. */
    const spanNow: Effect.Effect<Tracer.AnySpan | undefined> = tracing ? currentSpan : Effect.succeed(undefined)
    const budget = messageBudgetBytes(config)
    const syncTimeoutMs = Duration.toMillis(config.syncTimeout)
    decodeInvalidUtf8AsIllFormed()
    const peers = new Map<string, Peer>()
    const peerOf = (address: string): Peer => {
      let peer = peers.get(address)
      if (peer === undefined) {
        const channel = createChannel(address, channelCredentials, {
          "grpc.max_receive_message_length": config.maxRecvMsgBytes,
          "grpc.max_send_message_length": config.maxSendMsgBytes,
          // grpc-js backs off up to 120 s after a failed connect and fails calls
          // fast meanwhile; a peer that restarts must be reachable again at once.
          "grpc.initial_reconnect_backoff_ms": RECONNECT_BACKOFF_MIN_MS,
          "grpc.max_reconnect_backoff_ms": RECONNECT_BACKOFF_MAX_MS
        })
        peer = {
          channel,
          replica: createClient(ReplicaServiceDefinition, channel),
          membership: createClient(MembershipServiceDefinition, channel),
          antiEntropy: createClient(AntiEntropyServiceDefinition, channel),
          placement: createClient(PlacementServiceDefinition, channel)
        }
        peers.set(address, peer)
      }
      return peer
    }
    const disconnect = (address: string) => {
      streams.get(address)?.close(new PeerUnavailable({ address, reason: "disconnected" }))
      peers.get(address)?.channel.close()
      peers.delete(address)
    }
    // A call that found no connection drops the channel, so that the peer is
    // dialled afresh; replica batches to it fail at once until this time
    // rather than each dialling anew (a dead replica would otherwise cost a
    // connection attempt per event-loop turn).
    const unreachableUntil = new Map<string, number>()
    const invalidate = (address: string, error: unknown) => {
      if (error instanceof ClientError && error.code === Status.UNAVAILABLE) {
        disconnect(address)
        unreachableUntil.set(address, clock.unsafeCurrentTimeMillis() + UNREACHABLE_PAUSE_MS)
      }
    }
    yield* Effect.addFinalizer(() => Effect.sync(() => [...peers.keys()].forEach(disconnect)))

    // Replica requests waiting for the end of this event-loop turn, by peer.
    const queued = new Map<string, Array<Pending>>()
    let flushScheduled = false
    const deliver = (address: string, batch: ReadonlyArray<Pending>, results: ReadonlyArray<ReplicaResult>) =>
      batch.forEach((pending, i) => {
        const result = results[i]
        const reply = result === undefined ? undefined : codec.decodeReply(result)
        pending.onDone(reply ?? new PeerUnavailable({ address, reason: "malformed batch response" }))
      })
    const fail = (address: string, batch: ReadonlyArray<Pending>, error: unknown) => {
      const failure = error instanceof PeerTimeout || error instanceof PeerUnavailable ? error : toPeerError(address, timeoutMs, error)
      invalidate(address, error)
      for (const pending of batch) pending.onDone(failure)
    }
    /** A batch as one Batch call: for peers without Stream (an older version). */
    const sendUnary = (address: string, batch: ReadonlyArray<Pending>) => {
      peerOf(address).replica.batch({ ops: batch.map((p) => codec.encodeRequest(p.request)), from: self }, options()).then(
        ({ results }) => deliver(address, batch, results),
        (error: unknown) => fail(address, batch, error)
      )
    }

    // One Stream call per peer carries its batches; opened on first use, again after it ends.
    const streams = new Map<string, ReplicaStream>()
    const unaryPeers = new Set<string>()
    const streamTo = (address: string): ReplicaStream => {
      let stream = streams.get(address)
      if (stream === undefined) {
        const client = peerOf(address).replica
        stream = new ReplicaStream(
          (requests, signal) => client.stream(requests, metadata === undefined ? { signal } : { signal, metadata }),
          (ended) => {
            if (streams.get(address) === ended) streams.delete(address)
          },
          STREAM_OUTSTANDING,
          config.peerBatchMax,
          budget,
          metrics.peerBatch,
          self
        )
        streams.set(address, stream)
      }
      return stream
    }
    const sendBatch = (address: string, batch: ReadonlyArray<Pending>, bytes: number) => {
      const pausedUntil = unreachableUntil.get(address)
      if (pausedUntil !== undefined) {
        if (clock.unsafeCurrentTimeMillis() < pausedUntil) {
          const failure = new PeerUnavailable({ address, reason: "unreachable a moment ago; not dialled again yet" })
          for (const pending of batch) pending.onDone(failure)
          return
        }
        unreachableUntil.delete(address)
      }
      if (unaryPeers.has(address)) {
        metrics.peerBatch(batch.length)
        return sendUnary(address, batch)
      }
      streamTo(address).send({
        ops: batch.map((p) => codec.encodeRequest(p.request)),
        bytes,
        sentAtMs: clock.unsafeCurrentTimeMillis(),
        settle: (outcome) => {
          if (!("failure" in outcome)) return deliver(address, batch, outcome)
          const error = outcome.failure
          if (error instanceof ClientError && error.code === Status.UNIMPLEMENTED) {
            unaryPeers.add(address)
            return sendUnary(address, batch)
          }
          fail(address, batch, error)
        }
      })
    }
    // A peer that stops answering fails its stream's batches after RPC_TIMEOUT; the next batch opens a new stream.
    const expireStreams = Effect.sync(() => {
      const now = clock.unsafeCurrentTimeMillis()
      for (const [address, stream] of streams) {
        const oldest = stream.oldestSentAtMs()
        if (oldest !== undefined && now - oldest >= timeoutMs) stream.close(new PeerTimeout({ address, timeoutMs }))
      }
    })
    yield* Effect.forkScoped(Effect.repeat(expireStreams, Schedule.spaced(Duration.millis(Math.min(100, timeoutMs / 4)))))
    const flush = () => {
      flushScheduled = false
      for (const [address, pending] of queued) {
        for (const batch of messagesOf(pending, (p) => wireBytes(p.request), config.peerBatchMax, budget)) {
          sendBatch(address, batch.items, batch.bytes)
        }
      }
      queued.clear()
    }

    const call = <A>(address: string, run: (peer: Peer, span: Tracer.AnySpan | undefined) => Promise<A>): Effect.Effect<A, PeerError> =>
      Effect.flatMap(spanNow, (span) =>
        Effect.tryPromise({
          try: () => run(peerOf(address), span),
          catch: (error) => {
            invalidate(address, error)
            return toPeerError(address, timeoutMs, error)
          }
        }))

    /** One placement request as its gRPC call; undefined for an answer that does not decode. */
    const placementCall = async (peer: Peer, request: PlacementRequest): Promise<PlacementResponse | undefined> => {
      const client = peer.placement
      switch (request.kind) {
        case "hello":
          return placementCodec.decodeHelloResponse(await client.hello(placementCodec.encodeHello(request), options()))
        case "prepare":
          return placementCodec.decodePrepareResponse(await client.prepare(placementCodec.encodePrepare(request), options()))
        case "accept":
          return placementCodec.decodeAcceptResponse(await client.accept(placementCodec.encodeAccept(request), options()))
        case "commit":
          return placementCodec.decodeCommitResponse(await client.commit(placementCodec.encodeCommit(request), options()))
        case "change":
          return placementCodec.decodeChangeResponse(await client.change(placementCodec.encodeChange(request), options()))
      }
    }

    const client: PeerClientShape = {
      replicate: (address, request, onDone) => {
        const pending = queued.get(address)
        if (pending === undefined) queued.set(address, [{ request, onDone }])
        else pending.push({ request, onDone })
        if (!flushScheduled) {
          flushScheduled = true
          setImmediate(flush)
        }
      },
      ping: (address, message) =>
        call(address, (peer) => peer.membership.ping({ ...message, gossip: message.gossip.map(encodeMember) }, options())).pipe(
          Effect.flatMap((response) => {
            const gossip = decodeGossip(response.gossip)
            return gossip === undefined
              ? Effect.fail(new PeerUnavailable({ address, reason: "too many gossip updates in an answer" }))
              : Effect.succeed({ generation: response.generation, epoch: response.epoch, gossip })
          })
        ),
      pingReq: (address, message) =>
        call(address, (peer) => peer.membership.pingReq({ ...message, gossip: message.gossip.map(encodeMember) }, options())).pipe(
          Effect.map((response) => ({ ack: response.ack, generation: response.generation, gossip: decodeGossip(response.gossip) ?? [] }))
        ),
      placement: (address, request) =>
        call(address, (peer) => placementCall(peer, request)).pipe(
          Effect.flatMap((response) =>
            response === undefined
              ? Effect.fail(new PeerUnavailable({ address, reason: `malformed ${request.kind} answer` }))
              : Effect.succeed(response)
          )
        ),
      // gRPC flow control is the back-pressure: the sender writes no further than the receiver reads.
      pull: (address, request) =>
        Stream.unwrap(Effect.map(spanNow, (span) =>
          Stream.fromAsyncIterable(
            peerOf(address).antiEntropy.pull(
              { requester: request.requester, epoch: request.epoch, ranges: [...request.ranges], floors: request.floors === true },
              options(syncTimeoutMs, span)
            ),
            (error) => {
              invalidate(address, error)
              return toPeerError(address, syncTimeoutMs, error)
            }
          ))).pipe(Stream.map(codec.decodePullChunk)),
      digests: (address, request) =>
        call(address, (peer, span) =>
          peer.antiEntropy.digests(
            { epoch: request.epoch, arcs: [...request.arcs], level: request.level },
            options(timeoutMs, span)
          )).pipe(Effect.map((response) => response.arcs.map(codec.decodeArcDigests))),
      disconnect
    }
    return client
  })
)
