import { expect, it } from "@effect/vitest"
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

/** One test per case: start-up refuses `env` with one line that contains `message` (which names the variable). */
export const itRejectsEach = (cases: ReadonlyArray<readonly [env: Record<string, string>, message: string]>) => {
  for (const [env, message] of cases) {
    it.effect(`rejects ${JSON.stringify(env)} naming the variable`, () =>
      Effect.gen(function*() {
        const error = yield* errorOf(env)
        expect(error).toContain(message)
        expect(error.split("\n")).toHaveLength(1)
      }))
  }
}
