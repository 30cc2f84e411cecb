import { messagesOf, wireBytes } from "../protocol/limits.js"
import { decodeInvalidUtf8AsIllFormed } from "../protocol/text.js"
import { Duration, Effect, Exit, Layer, Option, RcMap, Redacted, Runtime, Schedule, Scope, Stream, type Tracer } from "effect"
import { ClientError, createChannel, Metadata, Status } from "nice-grpc"
import { messageBudgetBytes, NodeConfig, selfAddress } from "../config/NodeConfig.js"
import type { ReplicaResult } from "../generated/cluster/v1/cluster.js"
import type { PlacementRequest, PlacementResponse } from "../protocol/placement.js"
import type { ReplicaReply, ReplicaRequest } from "../protocol/replica.js"
import * as codec from "./codec.js"
import { decodeGossip, encodeMember } from "./membershipCodec.js"
import * as placementCodec from "./placementCodec.js"
import { type PeerClientShape, PeerClient } from "./PeerClient.js"
import { type PeerClients, PeerConnection } from "./PeerConnection.js"
import { CLUSTER_SECRET_HEADER } from "../protocol/headers.js"
import { type PeerError, PeerTimeout, PeerUnavailable } from "./PeerError.js"
import { ReplicaStream } from "./replicaStream.js"
import { Tls } from "../security/Tls.js"
import { Metrics } from "../telemetry/Metrics.js"
import { Telemetry } from "../telemetry/Telemetry.js"
import { currentSpan, TRACEPARENT, traceparentOf } from "../telemetry/traceContext.js"
import { grpcJsOptions } from "../util/grpcOptions.js"

/** Stream messages to one peer awaiting answers at a time; batches made meanwhile wait and leave together. */
const STREAM_OUTSTANDING = 1

const RECONNECT_BACKOFF_MIN_MS = 100
const RECONNECT_BACKOFF_MAX_MS = 1000
/**
 * How long a peer's connection stays open with no call using it (at least
 * twice RPC_TIMEOUT, so that batches sent on it settle first). Members are
 * probed far more often than this; what expires are addresses contacted once:
 * seeds that never joined, or addresses a hostile peer made up.
 */
const PEER_IDLE = Duration.minutes(1)
/** How long the replica path keeps its lease on a connection it sends no batch on (then PEER_IDLE runs). */
const LEASE_IDLE = Duration.seconds(10)

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
 * Peer calls over gRPC: one connection per peer (`PeerConnection`) in an
 * `RcMap`, opened on first use, held by each call while it runs (and by the
 * replica path while batches flow), and closed once idle for PEER_IDLE,
 * when the peer leaves, or when the scope closes.
 * Every call is abandoned (its gRPC call cancelled) when its fiber is
 * interrupted, not only at its deadline. Replica requests for one peer made
 * in the same event-loop turn go out as one message (at most PEER_BATCH_MAX
 * operations) of that peer's long-lived Stream call, or as one Batch call to
 * a peer without Stream.
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
    /** Call options: cancelled by `signal` or at the deadline, the cluster secret, and the caller's trace context when it is sampled. */
    const options = (signal: AbortSignal, deadlineMs: number, span: Tracer.AnySpan | undefined): CallOptions => {
      const cancel = AbortSignal.any([signal, AbortSignal.timeout(deadlineMs)])
      if (span === undefined || !span.sampled) return metadata === undefined ? { signal: cancel } : { signal: cancel, metadata }
      const traced = Metadata({ [TRACEPARENT]: traceparentOf(span) })
      if (Option.isSome(secret)) traced.set(CLUSTER_SECRET_HEADER, secret.value)
      return { signal: cancel, metadata: traced }
    }
    /** The current span, looked up only when tracing is on. */
    const spanNow: Effect.Effect<Tracer.AnySpan | undefined> = tracing ? currentSpan : Effect.succeed(undefined)
    const budget = messageBudgetBytes(config)
    const syncTimeoutMs = Duration.toMillis(config.syncTimeout)
    decodeInvalidUtf8AsIllFormed()

    const dial = (address: string) => () =>
      createChannel(address, channelCredentials, {
        ...grpcJsOptions,
        "grpc.max_receive_message_length": config.maxRecvMsgBytes,
        "grpc.max_send_message_length": config.maxSendMsgBytes,
        // grpc-js backs off up to 120 s after a failed connect and fails calls
        // fast meanwhile; a peer that restarts must be reachable again at once.
        "grpc.initial_reconnect_backoff_ms": RECONNECT_BACKOFF_MIN_MS,
        "grpc.max_reconnect_backoff_ms": RECONNECT_BACKOFF_MAX_MS
      })
    // A peer that stops answering fails its stream's batches after RPC_TIMEOUT; the next batch opens a new stream.
    const expireStream = (connection: PeerConnection) =>
      Effect.sync(() => {
        const oldest = connection.stream?.oldestSentAtMs()
        if (oldest !== undefined && clock.unsafeCurrentTimeMillis() - oldest >= timeoutMs) {
          connection.stream!.close(new PeerTimeout({ address: connection.address, timeoutMs }))
        }
      })
    const connections = yield* RcMap.make({
      lookup: (address: string) =>
        Effect.gen(function*() {
          const connection = yield* Effect.acquireRelease(
            Effect.sync(() => {
              metrics.peerConnections(1)
              return new PeerConnection(address, dial(address))
            }),
            (connection) =>
              Effect.sync(() => {
                metrics.peerConnections(-1)
                connection.close("disconnected")
              })
          )
          yield* Effect.forkScoped(Effect.repeat(expireStream(connection), Schedule.spaced(Duration.millis(Math.min(100, timeoutMs / 4)))))
          return connection
        }),
      idleTimeToLive: Duration.max(PEER_IDLE, Duration.times(config.rpcTimeout, 2))
    })
    /** Runs `use` with the peer's connection, held until it ends. */
    const withConnection = <A, E, R>(address: string, use: (connection: PeerConnection) => Effect.Effect<A, E, R>) =>
      Effect.scoped(Effect.flatMap(RcMap.get(connections, address), use))

    const deliver = (address: string, batch: ReadonlyArray<Pending>, results: ReadonlyArray<ReplicaResult>) =>
      batch.forEach((pending, i) => {
        const result = results[i]
        const reply = result === undefined ? undefined : codec.decodeReply(result)
        pending.onDone(reply ?? new PeerUnavailable({ address, reason: "malformed batch response" }))
      })
    const fail = (connection: PeerConnection, batch: ReadonlyArray<Pending>, error: unknown) => {
      const { address } = connection
      const failure = error instanceof PeerTimeout || error instanceof PeerUnavailable ? error : toPeerError(address, timeoutMs, error)
      connection.failed(error, clock.unsafeCurrentTimeMillis())
      for (const pending of batch) pending.onDone(failure)
    }
    /** A batch as one Batch call: for peers without Stream (an older version). */
    const sendUnary = (connection: PeerConnection, batch: ReadonlyArray<Pending>) => {
      const request = { ops: batch.map((p) => codec.encodeRequest(p.request)), from: self }
      const signal = AbortSignal.timeout(timeoutMs)
      connection.clients.replica.batch(request, metadata === undefined ? { signal } : { signal, metadata }).then(
        ({ results }) => deliver(connection.address, batch, results),
        (error: unknown) => fail(connection, batch, error)
      )
    }
    /** The peer's Stream call, opened on first use and again after it ends. */
    const streamOf = (connection: PeerConnection): ReplicaStream => {
      if (connection.stream !== undefined) return connection.stream
      const client = connection.clients.replica
      const stream = new ReplicaStream(
        (requests, signal) => client.stream(requests, metadata === undefined ? { signal } : { signal, metadata }),
        (ended) => {
          if (connection.stream === ended) connection.stream = undefined
        },
        STREAM_OUTSTANDING,
        config.peerBatchMax,
        budget,
        metrics.peerBatch,
        self
      )
      connection.stream = stream
      return stream
    }
    const sendBatch = (connection: PeerConnection, batch: ReadonlyArray<Pending>, bytes: number) => {
      if (connection.paused(clock.unsafeCurrentTimeMillis())) {
        const failure = new PeerUnavailable({ address: connection.address, reason: "unreachable a moment ago; not dialled again yet" })
        for (const pending of batch) pending.onDone(failure)
        return
      }
      if (connection.unary) {
        metrics.peerBatch(batch.length)
        return sendUnary(connection, batch)
      }
      streamOf(connection).send({
        ops: batch.map((p) => codec.encodeRequest(p.request)),
        bytes,
        sentAtMs: clock.unsafeCurrentTimeMillis(),
        settle: (outcome) => {
          if (!("failure" in outcome)) return deliver(connection.address, batch, outcome)
          const error = outcome.failure
          if (error instanceof ClientError && error.code === Status.UNIMPLEMENTED) {
            connection.unary = true
            return sendUnary(connection, batch)
          }
          fail(connection, batch, error)
        }
      })
    }

    // The connections replica batches use are leased by the pool while batches flow, and let go after
    // LEASE_IDLE without any: a lease per event-loop turn would cost more than the turn's batches (an RcMap.get
    // in a scope of its own is about 15 µs).
    const leases = new Map<string, { readonly connection: PeerConnection; readonly scope: Scope.CloseableScope; usedAtMs: number }>()
    let closed = false
    const leaseOf = (address: string): Effect.Effect<PeerConnection> =>
      Effect.suspend(() => {
        const held = leases.get(address)
        if (held !== undefined) {
          held.usedAtMs = clock.unsafeCurrentTimeMillis()
          return Effect.succeed(held.connection)
        }
        return Effect.gen(function*() {
          const scope = yield* Scope.make()
          const connection = yield* Scope.extend(RcMap.get(connections, address), scope)
          // Another turn's batches may have leased it meanwhile: keep one lease per peer.
          const raced = leases.get(address)
          if (raced !== undefined) {
            yield* Scope.close(scope, Exit.void)
            return raced.connection
          }
          leases.set(address, { connection, scope, usedAtMs: clock.unsafeCurrentTimeMillis() })
          return connection
        })
      })
    const letGo = (address: string) =>
      Effect.suspend(() => {
        const held = leases.get(address)
        if (held === undefined) return Effect.void
        leases.delete(address)
        return Scope.close(held.scope, Exit.void)
      })
    const letGoIdle = Effect.suspend(() => {
      const idleSince = clock.unsafeCurrentTimeMillis() - Duration.toMillis(LEASE_IDLE)
      return Effect.forEach([...leases].filter(([, lease]) => lease.usedAtMs < idleSince), ([address]) => letGo(address), { discard: true })
    })
    yield* Effect.addFinalizer(() =>
      Effect.suspend(() => {
        closed = true
        return Effect.forEach([...leases.keys()], letGo, { discard: true })
      })
    )
    yield* Effect.forkScoped(Effect.repeat(letGoIdle, Schedule.spaced(LEASE_IDLE)))

    /** A turn's requests to one peer, as messages of at most PEER_BATCH_MAX operations. */
    const sendAll = (connection: PeerConnection, pending: ReadonlyArray<Pending>) => {
      for (const batch of messagesOf(pending, (p) => wireBytes(p.request), config.peerBatchMax, budget)) {
        sendBatch(connection, batch.items, batch.bytes)
      }
    }
    // Replica requests wait for the end of their event-loop turn, by peer, then go out together. Plain
    // code while the peer's connection is leased (every turn but the first): waking a fiber each turn
    // cost more than the turn's batches. The first turn to a peer leases its connection in a fiber.
    const runFork = Runtime.runFork(yield* Effect.runtime<never>())
    /** Only a closing pool fails to lease a connection. */
    const shuttingDown = (address: string, pending: ReadonlyArray<Pending>) => {
      const failure = new PeerUnavailable({ address, reason: "this node is shutting down" })
      for (const p of pending) p.onDone(failure)
    }
    let queued = new Map<string, Array<Pending>>()
    let flushScheduled = false
    const flush = () => {
      flushScheduled = false
      const turn = queued
      queued = new Map()
      const nowMs = clock.unsafeCurrentTimeMillis()
      for (const [address, pending] of turn) {
        const held = leases.get(address)
        if (held !== undefined) {
          held.usedAtMs = nowMs
          sendAll(held.connection, pending)
        } else if (closed) {
          shuttingDown(address, pending)
        } else {
          runFork(Effect.matchCause(leaseOf(address), {
            onFailure: () => shuttingDown(address, pending),
            onSuccess: (connection) => sendAll(connection, pending)
          }))
        }
      }
    }

    const call = <A>(address: string, deadlineMs: number, run: (clients: PeerClients, options: CallOptions) => Promise<A>) =>
      Effect.flatMap(spanNow, (span) =>
        withConnection(address, (connection) =>
          Effect.tryPromise({
            try: (signal) => run(connection.clients, options(signal, deadlineMs, span)),
            catch: (error): PeerError => {
              connection.failed(error, clock.unsafeCurrentTimeMillis())
              return toPeerError(address, deadlineMs, error)
            }
          })))

    /** One placement request as its gRPC call; undefined for an answer that does not decode. */
    const placementCall = async (
      client: PeerClients["placement"],
      request: PlacementRequest,
      options: CallOptions
    ): Promise<PlacementResponse | undefined> => {
      switch (request.kind) {
        case "hello":
          return placementCodec.decodeHelloResponse(await client.hello(placementCodec.encodeHello(request), options))
        case "prepare":
          return placementCodec.decodePrepareResponse(await client.prepare(placementCodec.encodePrepare(request), options))
        case "accept":
          return placementCodec.decodeAcceptResponse(await client.accept(placementCodec.encodeAccept(request), options))
        case "commit":
          return placementCodec.decodeCommitResponse(await client.commit(placementCodec.encodeCommit(request), options))
        case "change":
          return placementCodec.decodeChangeResponse(await client.change(placementCodec.encodeChange(request), options))
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
        call(address, timeoutMs, (clients, options) => clients.membership.ping({ ...message, gossip: message.gossip.map(encodeMember) }, options)).pipe(
          Effect.flatMap((response) => {
            const gossip = decodeGossip(response.gossip)
            return gossip === undefined
              ? Effect.fail(new PeerUnavailable({ address, reason: "too many gossip updates in an answer" }))
              : Effect.succeed({ generation: response.generation, epoch: response.epoch, gossip })
          })
        ),
      pingReq: (address, message) =>
        call(address, timeoutMs, (clients, options) => clients.membership.pingReq({ ...message, gossip: message.gossip.map(encodeMember) }, options)).pipe(
          Effect.map((response) => ({ ack: response.ack, generation: response.generation, gossip: decodeGossip(response.gossip) ?? [] }))
        ),
      placement: (address, request) =>
        call(address, timeoutMs, (clients, options) => placementCall(clients.placement, request, options)).pipe(
          Effect.flatMap((response) =>
            response === undefined
              ? Effect.fail(new PeerUnavailable({ address, reason: `malformed ${request.kind} answer` }))
              : Effect.succeed(response)
          )
        ),
      // gRPC flow control is the back-pressure: the sender writes no further than the receiver reads.
      // The connection is held, and the call cancelled when the stream ends early, through the stream's scope.
      pull: (address, request) =>
        Stream.unwrapScoped(Effect.gen(function*() {
          const span = yield* spanNow
          const connection = yield* RcMap.get(connections, address)
          const cancel = yield* Effect.acquireRelease(Effect.sync(() => new AbortController()), (c) => Effect.sync(() => c.abort()))
          const chunks = connection.clients.antiEntropy.pull(
            { requester: request.requester, epoch: request.epoch, ranges: [...request.ranges], floors: request.floors === true },
            options(cancel.signal, syncTimeoutMs, span)
          )
          return Stream.fromAsyncIterable(chunks, (error) => {
            connection.failed(error, clock.unsafeCurrentTimeMillis())
            return toPeerError(address, syncTimeoutMs, error)
          })
        })).pipe(Stream.map(codec.decodePullChunk)),
      digests: (address, request) =>
        call(address, timeoutMs, (clients, options) =>
          clients.antiEntropy.digests({ epoch: request.epoch, arcs: [...request.arcs], level: request.level }, options)).pipe(
            Effect.map((response) => response.arcs.map(codec.decodeArcDigests))
          ),
      disconnect: (address) => Effect.zipRight(RcMap.invalidate(connections, address), letGo(address))
    }
    return client
  })
)

type CallOptions = { readonly signal: AbortSignal; readonly metadata?: Metadata }
