import { describe, expect, it } from "@effect/vitest"
import { ConfigProvider, Context, Effect, Either, Layer } from "effect"
import { describeConfigError, NodeConfig } from "../../src/config/NodeConfig.js"
import { Telemetry } from "../../src/telemetry/Telemetry.js"

/** Builds the telemetry layer from these variables; its `tracing` flag, or the start-up error line. */
const telemetryFrom = (env: Record<string, string>) =>
  Effect.scoped(Layer.build(Telemetry.layerFromEnv.pipe(Layer.provide(NodeConfig.layer())))).pipe(
    Effect.map((context) => ({ tracing: Context.get(context, Telemetry).tracing })),
    Effect.withConfigProvider(ConfigProvider.fromMap(new Map(Object.entries(env)))),
    Effect.either,
    Effect.map(Either.mapLeft((error) => error._tag === "ConfigError" ? describeConfigError(error) : String(error)))
  )

describe("Telemetry", () => {
  it.effect("is off without an endpoint, and when the SDK or the traces exporter is disabled", () =>
    Effect.gen(function*() {
      expect(yield* telemetryFrom({})).toEqual(Either.right({ tracing: false }))
      const endpoint = { OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:4318" }
      expect(yield* telemetryFrom({ ...endpoint, OTEL_SDK_DISABLED: "true" })).toEqual(Either.right({ tracing: false }))
      expect(yield* telemetryFrom({ ...endpoint, OTEL_TRACES_EXPORTER: "none" })).toEqual(Either.right({ tracing: false }))
      expect(yield* telemetryFrom(endpoint)).toEqual(Either.right({ tracing: true }))
      expect(yield* telemetryFrom({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://127.0.0.1:4318/v1/traces", OTEL_EXPORTER_OTLP_PROTOCOL: "grpc" }))
        .toEqual(Either.right({ tracing: true }))
    }))

  it.effect("refuses to start on a bad OTEL_* value, naming the variable", () =>
    Effect.gen(function*() {
      const cases: ReadonlyArray<readonly [Record<string, string>, string]> = [
        [{ OTEL_EXPORTER_OTLP_ENDPOINT: "collector:4318" }, "OTEL_EXPORTER_OTLP_ENDPOINT"],
        [{ OTEL_EXPORTER_OTLP_PROTOCOL: "udp" }, "OTEL_EXPORTER_OTLP_PROTOCOL: \"udp\" is not one of http/protobuf, http/json, grpc"],
        [{ OTEL_TRACES_SAMPLER: "sometimes" }, "OTEL_TRACES_SAMPLER"],
        [{ OTEL_TRACES_SAMPLER_ARG: "2" }, "OTEL_TRACES_SAMPLER_ARG: \"2\" is not a ratio from 0 to 1"],
        [{ OTEL_RESOURCE_ATTRIBUTES: "team" }, "OTEL_RESOURCE_ATTRIBUTES"],
        [{ OTEL_SDK_DISABLED: "yes" }, "OTEL_SDK_DISABLED"]
      ]
      for (const [env, message] of cases) {
        const result = yield* telemetryFrom(env)
        expect(Either.isLeft(result) ? result.left : "started").toContain(message)
      }
    }))
})
