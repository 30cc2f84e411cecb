import { ConfigProvider, Effect, Either } from "effect"
import { describeConfigError, NodeConfig } from "../src/config/NodeConfig.js"

/** A node's settings read from `env` as start-up reads them: the config, or why it is refused. */
export const loadConfig = (env: Record<string, string>) =>
  NodeConfig.pipe(
    Effect.provide(NodeConfig.layerFromEnv),
    Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env)))),
    Effect.either
  )

/** The start-up error `env` causes, as the node prints it, or "no error". */
export const errorOf = (env: Record<string, string>) =>
  Effect.map(loadConfig(env), (result) => Either.isLeft(result) ? describeConfigError(result.left) : "no error")
