import { decodeInvalidUtf8AsIllFormed } from "../protocol/text.js"
import { Duration, Effect, Option, Stream } from "effect"
import { HealthDefinition, HealthServiceImpl, HealthState } from "nice-grpc-server-health"
import { ServerReflectionService } from "nice-grpc-server-reflection"
import { AntiEntropy } from "../antientropy/AntiEntropy.js"
import { DataMovement } from "../movement/DataMovement.js"
import { CacheApi } from "../api/CacheApi.js"
import { listenAddressOf, messageBudgetBytes, NodeConfig } from "../config/NodeConfig.js"
import { formatHostPort } from "../config/parse.js"
import { AntiEntropyServiceDefinition, MembershipServiceDefinition, PlacementServiceDefinition } from "../generated/cluster/v1/cluster.js"
import { Membership } from "../membership/Membership.js"
import type { PeerEndpoint } from "../peer/PeerClient.js"
import { LocalReplica } from "../replication/LocalReplica.js"
import { Tls } from "../security/Tls.js"
import { requireClusterCertificate } from "./clusterCertificate.js"
import { requireClusterSecret } from "./clusterSecret.js"
import { wellFormedErrors } from "./wellFormedErrors.js"
import {
  makeAntiEntropyHandlers,
  makeMembershipHandlers,
  makePlacementHandlers,
  makeReplicaHandlers,
  ReplicaServiceOrdered
} from "./handlers/peerHandlers.js"
import { Readiness } from "../placement/Readiness.js"
import { Ring } from "../placement/Ring.js"
import { Metrics } from "../telemetry/Metrics.js"
import { inShutdown } from "../telemetry/background.js"
import { Telemetry } from "../telemetry/Telemetry.js"
import { ServerStartError } from "../config/startupError.js"
import { CacheServiceGrpcJs, CallGate, makeCacheHandlers } from "./handlers/cacheHandlers.js"
import { grpcJsOptions } from "../util/grpcOptions.js"
import { makeGrpcJsServer } from "./grpcJsServer.js"
import { makeReflection, ServerReflectionV1AlphaService } from "./reflection.js"

const CACHE_SERVICE = "pb.CacheService"
const HEALTH_SERVICE = "grpc.health.v1.Health"

/**
 * The gRPC listener on `LISTEN_ADDR` (default `ADDR`): `pb.CacheService`,
 * `grpc.health.v1.Health` (mirroring readiness), server reflection (v1 and
 * v1alpha) and the internal services. Closing its scope is the graceful
 * shutdown: health turns NOT_SERVING, new client calls are refused, client
 * calls in flight get `DRAIN_TIMEOUT` to finish; then the node leaves the
 * ring by agreement (up to `HANDOFF_TIMEOUT`) while its internal services
 * still answer, so the members taking over its ranges copy them from it;
 * then the listener closes.
 */
export class GrpcServer extends Effect.Service<GrpcServer>()("cache/grpc/GrpcServer", {
  scoped: Effect.gen(function*() {
    const config = yield* NodeConfig
    const api = yield* CacheApi
    const replica = yield* LocalReplica
    const membership = yield* Membership
    const sync = yield* DataMovement
    const antiEntropy = yield* AntiEntropy
    const metrics = yield* Metrics
    const telemetry = yield* Telemetry
    const ring = yield* Ring
    const readiness = yield* Readiness
    const tls = yield* Tls
    const runtime = yield* Effect.runtime<never>()
    const clock = yield* Effect.clock
    const address = formatHostPort(listenAddressOf(config))

    decodeInvalidUtf8AsIllFormed()
    const health = HealthState()
    const server = makeGrpcJsServer({
      "grpc.max_receive_message_length": config.maxRecvMsgBytes,
      "grpc.max_send_message_length": config.maxSendMsgBytes,
      ...grpcJsOptions,
      // With mutual TLS, internal methods answer only callers with a cluster certificate.
      ...(tls.mutual ? { interceptors: [requireClusterCertificate(tls.isClusterCertificate)] } : {})
    }, wellFormedErrors)
    const gate = new CallGate()
    // The hot client methods as plain grpc-js handlers; the rest through nice-grpc (see grpcJsServer.ts).
    server.addGrpcJs(
      CacheServiceGrpcJs,
      makeCacheHandlers({ gate, api, runtime, nowMs: () => clock.unsafeCurrentTimeMillis(), metrics, tracing: telemetry.tracing, sample: telemetry.sample, keyHash: ring.hash })
    )
    // Internal services: only cluster members may call them when CLUSTER_SECRET is set (and PEER_TLS_*, above).
    const internal = Option.match(config.clusterSecret, {
      onNone: () => server,
      onSome: (secret) => server.with(requireClusterSecret(secret))
    })
    const endpoint = peerEndpoint({ replica, membership, ring, sync, antiEntropy, rpcTimeout: config.rpcTimeout })
    const spans = { tracer: yield* Effect.tracer, clock: yield* Effect.clock }
    internal.add(ReplicaServiceOrdered, makeReplicaHandlers(endpoint, runtime, messageBudgetBytes(config), telemetry.tracing ? { spans, keyHash: ring.hash } : undefined))
    internal.add(MembershipServiceDefinition, makeMembershipHandlers(endpoint, membership.self, runtime))
    internal.add(PlacementServiceDefinition, makePlacementHandlers(endpoint, runtime))
    internal.add(AntiEntropyServiceDefinition, makeAntiEntropyHandlers(endpoint, runtime, telemetry.tracing, messageBudgetBytes(config)))
    server.add(HealthDefinition, HealthServiceImpl(health))
    const reflection = makeReflection([CACHE_SERVICE, HEALTH_SERVICE])
    server.add(ServerReflectionService, reflection)
    server.add(ServerReflectionV1AlphaService, reflection)

    const port = yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: () => server.listen(address, tls.server),
        catch: (error) => new ServerStartError({ address, reason: error instanceof Error ? error.message : String(error) })
      }),
      () =>
        Effect.gen(function*() {
          health.setStatus("unhealthy")
          health.setStatus("unhealthy", CACHE_SERVICE)
          yield* readiness.beginLeaving
          yield* Effect.logInfo("shutting down: refusing new calls, draining in-flight calls")
          const drained = yield* inShutdown(
            Effect.async<void>((resume) => {
              gate.onIdle = () => resume(Effect.void)
              gate.closing = true
              if (gate.inFlight === 0) resume(Effect.void)
            }),
            config.drainTimeout
          )
          if (drained._tag === "None") {
            yield* Effect.logWarning("client calls still in flight after DRAIN_TIMEOUT; leaving the ring anyway").pipe(
              Effect.annotateLogs({ drainTimeoutMs: Duration.toMillis(config.drainTimeout), inFlight: gate.inFlight })
            )
          }
          const left = yield* ring.leave
          if (left === "timed out") {
            yield* Effect.logWarning("no configuration without this node was agreed in time; leaving anyway").pipe(
              Effect.annotateLogs({ handoffTimeoutMs: Duration.toMillis(config.handoffTimeout) })
            )
          } else {
            yield* Effect.logInfo("left the ring").pipe(Effect.annotateLogs({ outcome: left }))
          }
          // What is left: long-lived calls (health watches, peers' replica streams, which their
          // nodes close once the ring without this node is agreed), given DRAIN_TIMEOUT to end.
          const closed = yield* inShutdown(Effect.promise(() => server.shutdown()), config.drainTimeout)
          if (closed._tag === "None") {
            server.forceShutdown()
            yield* Effect.logWarning("drain timed out; remaining calls cut off").pipe(
              Effect.annotateLogs({ drainTimeoutMs: Duration.toMillis(config.drainTimeout) })
            )
          }
          yield* Effect.logInfo("gRPC server stopped")
        })
    )
    // Health mirrors readiness (see `Readiness.serving`): NOT_SERVING until the node has joined and holds its ranges.
    const mirror = (ready: boolean) =>
      Effect.sync(() => {
        health.setStatus(ready ? "healthy" : "unhealthy")
        health.setStatus(ready ? "healthy" : "unhealthy", CACHE_SERVICE)
      })
    yield* mirror(readiness.serving().ready)
    yield* Effect.forkScoped(Stream.runForEach(readiness.readyChanges, mirror))
    yield* Effect.logInfo("listening").pipe(Effect.annotateLogs({ address, port, tls: tls.server === undefined ? "off" : tls.mutual ? "mutual" : "on" }))
    return { address, port } as const
  })
}) {}

/** The server side of every peer call, over this node's services. */
const peerEndpoint = (node: {
  readonly replica: LocalReplica
  readonly membership: Membership
  readonly ring: Ring
  readonly sync: DataMovement
  readonly antiEntropy: AntiEntropy
  readonly rpcTimeout: Duration.Duration
}): PeerEndpoint => ({
  replicate: node.replica.handle,
  refused: node.replica.refused,
  epoch: node.ring.epoch,
  catchUp: (epoch, from) => Effect.asVoid(Effect.timeoutOption(node.ring.learn(epoch, from), node.rpcTimeout)),
  ping: node.membership.onPing,
  pingReq: node.membership.onPingReq,
  placement: node.ring.handle,
  pull: node.sync.serve,
  digests: node.antiEntropy.digests
})
