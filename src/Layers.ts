import { Cause, Console, Context, Effect, Layer, Option } from "effect"
import { AdminApiLive } from "./admin/AdminApi.js"
import { AdminHttp } from "./admin/AdminHttp.js"
import { Shutdown } from "./admin/Shutdown.js"
import { AntiEntropy } from "./antientropy/AntiEntropy.js"
import { Release } from "./movement/Release.js"
import { DataMovement } from "./movement/DataMovement.js"
import { TombstoneCollector } from "./antientropy/TombstoneCollector.js"
import { CacheApi } from "./api/CacheApi.js"
import { Hlc } from "./clock/Hlc.js"
import { describeConfigError, NodeConfig, selfAddress } from "./config/NodeConfig.js"
import { GrpcServer } from "./grpc/GrpcServer.js"
import { LoggingLive } from "./logging/Logging.js"
import { RateLimiter } from "./ratelimit/RateLimiter.js"
import { Membership } from "./membership/Membership.js"
import type { PeerClient } from "./peer/PeerClient.js"
import * as PeerPool from "./peer/PeerPool.js"
import { Readiness } from "./placement/Readiness.js"
import { Ring } from "./placement/Ring.js"
import { Replication } from "./replication/Coordinator.js"
import { Tls } from "./security/Tls.js"
import { LocalReplica } from "./replication/LocalReplica.js"
import { Store } from "./store/ShardedStore.js"
import { Metrics } from "./telemetry/Metrics.js"
import { Telemetry } from "./telemetry/Telemetry.js"

/** The node's own state: store, clock, rate limiter, metrics registry. */
export const LocalLive = Layer.mergeAll(Store.Default, Hlc.Default, RateLimiter.Default, Metrics.Default)

/** Cluster view over gRPC peers: SWIM failure detection and the agreed ring; needs Tls for the peer channels. */
export const ClusterLive = Ring.Default.pipe(
  Layer.provideMerge(Membership.Default),
  Layer.provideMerge(PeerPool.layerGrpc)
)

/** Everything below the gRPC edge over a given cluster view; needs a NodeConfig and Telemetry. */
export const makeCore = <E, R>(cluster: Layer.Layer<Ring | Membership | PeerClient, E, R>) =>
  CacheApi.Default.pipe(
    Layer.provideMerge(Release.Default),
    Layer.provideMerge(TombstoneCollector.Default),
    Layer.provideMerge(AntiEntropy.Default),
    Layer.provideMerge(DataMovement.Default),
    Layer.provideMerge(Replication.Default),
    Layer.provideMerge(LocalReplica.Default),
    Layer.provideMerge(Readiness.Default),
    Layer.provideMerge(cluster),
    Layer.provideMerge(LocalLive)
  )

/** The production core: gRPC peers and SWIM. */
export const CoreLive = makeCore(ClusterLive)

/** A node: the gRPC server over the core, TLS for its port and its peer channels; needs a NodeConfig and Telemetry. */
export const NodeLive = GrpcServer.Default.pipe(Layer.provideMerge(CoreLive), Layer.provideMerge(Tls.Default))

const announce = Layer.scopedDiscard(
  Effect.gen(function*() {
    const config = yield* NodeConfig
    yield* Effect.logInfo("node starting").pipe(
      Effect.annotateLogs({ address: selfAddress(config), shards: config.numShards, capacity: config.capacity })
    )
    yield* Effect.addFinalizer(() => Effect.logInfo("node stopped"))
  })
)

/** Once the server answers: take part in ring agreement (form, join or rejoin) and say so. */
const ready = Layer.scopedDiscard(
  Effect.gen(function*() {
    const server = yield* GrpcServer
    const ring = yield* Ring
    yield* ring.start
    yield* Effect.logInfo("ready").pipe(Effect.annotateLogs({ address: server.address, generation: ring.identity().generation }))
  })
)

/** The whole node as `pnpm start` runs it: settings from the environment. */
export const MainLive = Layer.mergeAll(ready, AdminApiLive).pipe(
  Layer.provide(NodeLive),
  // The admin listener opens before the node and closes after it: probes and
  // metrics answer through start-up and the whole graceful shutdown.
  Layer.provide(AdminHttp.Default),
  Layer.provideMerge(Shutdown.Default),
  Layer.provide(Metrics.Default),
  Layer.provide(announce),
  // Built before the node and closed after it, so spans of the shutdown are flushed.
  Layer.provide(Telemetry.layerFromEnv),
  Layer.provide(LoggingLive),
  Layer.provide(NodeConfig.layerFromEnv)
)

/**
 * Runs the node until interrupted (SIGTERM, SIGINT) or asked to leave
 * through the admin API; either way its scope closes and it shuts down
 * gracefully. A start-up failure prints one line saying why.
 */
export const program = Effect.scoped(
  Effect.flatMap(Layer.build(MainLive), (context) => Context.get(context, Shutdown).requested)
).pipe(
  Effect.tapErrorCause((cause) => {
    const failure = Cause.failureOption(cause)
    if (Option.isNone(failure)) {
      return Cause.isInterruptedOnly(cause) ? Effect.void : Console.error(`start-up failed: ${Cause.pretty(cause)}`)
    }
    const error = failure.value
    return Console.error(
      error._tag === "ServerStartError" ? `start-up failed: ${error.message}` : `invalid configuration: ${describeConfigError(error)}`
    )
  })
)
