import { Cause, Console, Effect, Layer, Option } from "effect"
import { CacheApi } from "./api/CacheApi.js"
import { Hlc } from "./clock/Hlc.js"
import { describeConfigError, NodeConfig } from "./config/NodeConfig.js"
import { formatHostPort } from "./config/parse.js"
import { GrpcServer } from "./grpc/GrpcServer.js"
import { LoggingLive } from "./logging/Logging.js"
import { RateLimiter } from "./ratelimit/RateLimiter.js"
import { Replication } from "./replication/Coordinator.js"
import { Store } from "./store/ShardedStore.js"

/** Everything below the gRPC edge; needs a NodeConfig. */
export const CoreLive = CacheApi.Default.pipe(
  Layer.provideMerge(Replication.Default),
  Layer.provideMerge(Layer.mergeAll(Store.Default, Hlc.Default, RateLimiter.Default))
)

/** A node: the gRPC server over the core, with logging; needs a NodeConfig. */
export const NodeLive = GrpcServer.Default.pipe(Layer.provideMerge(CoreLive))

const announce = Layer.scopedDiscard(
  Effect.gen(function*() {
    const config = yield* NodeConfig
    yield* Effect.logInfo("node starting").pipe(
      Effect.annotateLogs({ address: formatHostPort(config.addr), shards: config.numShards, capacity: config.capacity })
    )
    yield* Effect.addFinalizer(() => Effect.logInfo("node stopped"))
  })
)

const ready = Layer.effectDiscard(
  Effect.flatMap(GrpcServer, (server) => Effect.logInfo("ready").pipe(Effect.annotateLogs({ address: server.address })))
)

/** The whole node as `pnpm start` runs it: settings from the environment. */
export const MainLive = ready.pipe(
  Layer.provide(NodeLive),
  Layer.provide(announce),
  Layer.provide(LoggingLive),
  Layer.provide(NodeConfig.layerFromEnv)
)

/** Runs the node until interrupted; a start-up failure prints one line saying why. */
export const program = Layer.launch(MainLive).pipe(
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
