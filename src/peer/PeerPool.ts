import { Duration, Effect, Layer, Option, Redacted, Stream, type Tracer } from "effect"
import { type Channel, ClientError, createChannel, createClient, Metadata, Status } from "nice-grpc"
import { NodeConfig } from "../config/NodeConfig.js"
import {
  AntiEntropyServiceDefinition,
  MembershipServiceDefinition,
  ReplicaServiceDefinition
} from "../generated/cluster/v1/cluster.js"
import type { ReplicaReply, ReplicaRequest } from "../replication/protocol.js"
import * as codec from "./codec.js"
import { type PeerClientShape, PeerClient } from "./PeerClient.js"
import { type PeerError, PeerTimeout, PeerUnavailable } from "./PeerError.js"
import { Telemetry } from "../telemetry/Telemetry.js"
import { currentSpan, TRACEPARENT, traceparentOf } from "../telemetry/traceContext.js"

/** Metadata key that carries CLUSTER_SECRET on internal calls. */
export const CLUSTER_SECRET_HEADER = "x-cluster-secret"

const RECONNECT_BACKOFF_MIN_MS = 100
const RECONNECT_BACKOFF_MAX_MS = 1000

interface Peer {
  readonly channel: Channel
  readonly replica: ReturnType<typeof createClient<typeof ReplicaServiceDefinition>>
  readonly membership: ReturnType<typeof createClient<typeof MembershipServiceDefinition>>
  readonly antiEntropy: ReturnType<typeof createClient<typeof AntiEntropyServiceDefinition>>
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
 * peer made in the same event-loop turn are sent as one Batch call of at
 * most PEER_BATCH_MAX operations.
 */
export const layerGrpc: Layer.Layer<PeerClient, never, NodeConfig | Telemetry> = Layer.scoped(
  PeerClient,
  Effect.gen(function*() {
    const config = yield* NodeConfig
    const timeoutMs = Duration.toMillis(config.rpcTimeout)
    const { tracing } = yield* Telemetry
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
    const syncTimeoutMs = Duration.toMillis(config.syncTimeout)
    const peers = new Map<string, Peer>()
    const peerOf = (address: string): Peer => {
      let peer = peers.get(address)
      if (peer === undefined) {
        const channel = createChannel(address, undefined, {
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
          antiEntropy: createClient(AntiEntropyServiceDefinition, channel)
        }
        peers.set(address, peer)
      }
      return peer
    }
    const disconnect = (address: string) => {
      peers.get(address)?.channel.close()
      peers.delete(address)
    }
    /** A call that found no connection drops the channel, so the next one dials afresh. */
    const invalidate = (address: string, error: unknown) => {
      if (error instanceof ClientError && error.code === Status.UNAVAILABLE) disconnect(address)
    }
    yield* Effect.addFinalizer(() => Effect.sync(() => [...peers.keys()].forEach(disconnect)))

    // Replica requests waiting for the end of this event-loop turn, by peer.
    const queued = new Map<string, Array<Pending>>()
    let flushScheduled = false
    const sendBatch = (address: string, batch: ReadonlyArray<Pending>) => {
      peerOf(address).replica.batch({ ops: batch.map((p) => codec.encodeRequest(p.request)) }, options()).then(
        ({ results }) => {
          batch.forEach((pending, i) => {
            const result = results[i]
            const reply = result === undefined ? undefined : codec.decodeReply(result)
            pending.onDone(reply ?? new PeerUnavailable({ address, reason: "malformed batch response" }))
          })
        },
        (error: unknown) => {
          const failure = toPeerError(address, timeoutMs, error)
          invalidate(address, error)
          for (const pending of batch) pending.onDone(failure)
        }
      )
    }
    const flush = () => {
      flushScheduled = false
      for (const [address, pending] of queued) {
        for (let i = 0; i < pending.length; i += config.peerBatchMax) {
          sendBatch(address, pending.slice(i, i + config.peerBatchMax))
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
        call(address, (peer) =>
          peer.membership.ping(
            { from: message.from, target: message.target, gossip: message.gossip.map(codec.encodeMember) },
            options()
          )).pipe(Effect.map((response) => codec.decodeMembers(response.gossip))),
      pingReq: (address, message) =>
        call(address, (peer) =>
          peer.membership.pingReq(
            { from: message.from, target: message.target, gossip: message.gossip.map(codec.encodeMember) },
            options()
          )).pipe(Effect.map((response) => ({ ack: response.ack, gossip: codec.decodeMembers(response.gossip) }))),
      join: (address, joiner) =>
        call(address, (peer) => peer.membership.join({ self: codec.encodeMember(joiner) }, options())).pipe(
          Effect.map((response) => codec.decodeMembers(response.members))
        ),
      // gRPC flow control is the back-pressure: the sender writes no further than the receiver reads.
      pull: (address, request) =>
        Stream.unwrap(Effect.map(spanNow, (span) =>
          Stream.fromAsyncIterable(
            peerOf(address).antiEntropy.pull(
              { requester: request.requester, members: [...request.members], ranges: [...(request.ranges ?? [])] },
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
            { members: [...request.members], arcs: [...request.arcs], level: request.level },
            options(timeoutMs, span)
          )).pipe(Effect.map((response) => response.arcs.map(codec.decodeArcDigests))),
      disconnect
    }
    return client
  })
)
