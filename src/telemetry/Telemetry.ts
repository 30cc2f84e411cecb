import * as OtelResource from "@effect/opentelemetry/Resource"
import * as OtelTracer from "@effect/opentelemetry/Tracer"
import { AlwaysOnSampler, BasicTracerProvider, BatchSpanProcessor, type SpanExporter } from "@opentelemetry/sdk-trace-base"
import { Config, type ConfigError, Context, Effect, Layer, Option } from "effect"
import { NodeConfig, selfAddress, setting } from "../config/NodeConfig.js"
import { parseChoice } from "../config/parse.js"
import { PACKAGE_VERSION } from "../config/version.js"
import * as env from "./otelEnv.js"

/** What the rest of the node needs to know about tracing. */
export interface TelemetryShape {
  /**
   * Whether a tracer records spans at all. When false the request path
   * skips every tracing step (no span objects, no trace context), so tracing
   * off costs nothing.
   */
  readonly tracing: boolean
  /**
   * Whether to trace a call (`OTEL_TRACES_SAMPLER`); `parentSampled` is the
   * caller's decision when its trace context came with the call. Asked
   * before a span is made: an unsampled call gets no span at all.
   */
  readonly sample: (parentSampled: boolean | undefined) => boolean
}

/**
 * `effect` as a trace of its own (a background round, not part of any call),
 * when tracing is on and the sampler takes it; decided each time it runs.
 */
export const asRootSpan = (telemetry: TelemetryShape, name: string) => <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.suspend(() =>
    telemetry.tracing && telemetry.sample(undefined) ? Effect.withSpan(effect, name, { root: true, captureStackTrace: false }) : effect
  )

/** Tracing settings from the standard OpenTelemetry variables. */
export interface TracingSettings {
  /** Where spans go; undefined = tracing off. */
  readonly url: string | undefined
  readonly protocol: env.OtlpProtocol
  readonly serviceName: string
  readonly sampler: env.SamplerSpec
  readonly attributes: Record<string, string>
}

const protocolSetting = (name: string) =>
  setting(name, "OTLP protocol: http/protobuf, http/json or grpc", parseChoice(env.OTLP_PROTOCOLS)).pipe(Config.option)

const settings: Config.Config<TracingSettings> = Config.all({
  disabled: setting("OTEL_SDK_DISABLED", "true turns telemetry off", parseChoice(["true", "false"] as const)).pipe(
    Config.withDefault("false" as const)
  ),
  exporter: setting("OTEL_TRACES_EXPORTER", "otlp, or none to turn tracing off", parseChoice(["otlp", "none"] as const)).pipe(
    Config.withDefault("otlp" as const)
  ),
  endpoint: setting("OTEL_EXPORTER_OTLP_ENDPOINT", "base URL of the OTLP receiver; tracing is off without one", env.parseEndpoint)
    .pipe(Config.option),
  tracesEndpoint: setting("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "full URL for spans", env.parseEndpoint).pipe(Config.option),
  protocol: protocolSetting("OTEL_EXPORTER_OTLP_PROTOCOL"),
  tracesProtocol: protocolSetting("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"),
  serviceName: Config.string("OTEL_SERVICE_NAME").pipe(Config.withDefault("quorum-cache")),
  sampler: setting("OTEL_TRACES_SAMPLER", "which traces are recorded", parseChoice(env.SAMPLERS)).pipe(Config.option),
  samplerArg: setting("OTEL_TRACES_SAMPLER_ARG", "share of traces a ratio sampler keeps, 0-1", env.parseRatio).pipe(Config.option),
  attributes: setting("OTEL_RESOURCE_ATTRIBUTES", "key=value,... describing this node", env.parseResourceAttributes).pipe(
    Config.withDefault({})
  )
}).pipe(Config.map((c): TracingSettings => {
  const protocol = Option.getOrElse(Option.orElse(c.tracesProtocol, () => c.protocol), () => "http/protobuf" as const)
  const off = c.disabled === "true" || c.exporter === "none"
  return {
    url: off ? undefined : env.tracesUrl(protocol, Option.getOrUndefined(c.endpoint), Option.getOrUndefined(c.tracesEndpoint)),
    protocol,
    serviceName: c.serviceName,
    sampler: env.samplerSpec(Option.getOrUndefined(c.sampler), Option.getOrUndefined(c.samplerArg)),
    attributes: c.attributes
  }
}))

/** Loaded only when tracing is on, so a node without an endpoint never loads an exporter. */
const makeExporter = async (protocol: env.OtlpProtocol, url: string): Promise<SpanExporter> => {
  switch (protocol) {
    case "http/protobuf":
      return new (await import("@opentelemetry/exporter-trace-otlp-proto")).OTLPTraceExporter({ url })
    case "http/json":
      return new (await import("@opentelemetry/exporter-trace-otlp-http")).OTLPTraceExporter({ url })
    case "grpc":
      return new (await import("@opentelemetry/exporter-trace-otlp-grpc")).OTLPTraceExporter({ url })
  }
}

const OFF: TelemetryShape = { tracing: false, sample: () => false }

/**
 * Tracing through `@effect/opentelemetry` on the OTel SDK: spans batched
 * (`OTEL_BSP_*` tune the batching) and exported over OTLP. Closing the
 * scope flushes what is still queued.
 */
export class Telemetry extends Context.Tag("cache/telemetry/Telemetry")<Telemetry, TelemetryShape>() {
  /** No tracing: for tests and for nodes without an endpoint. */
  static readonly layerOff: Layer.Layer<Telemetry> = Layer.succeed(Telemetry, OFF)

  /** Tracing as the OTEL_* variables ask; also installs the tracer every Effect span goes to. */
  static readonly layerFromEnv: Layer.Layer<Telemetry, ConfigError.ConfigError, NodeConfig> = Layer.unwrapScoped(
    Effect.gen(function*() {
      const tracing = yield* settings
      const node = yield* NodeConfig
      const url = tracing.url
      if (url === undefined) return Telemetry.layerOff
      const exporter = yield* Effect.promise(() => makeExporter(tracing.protocol, url))
      const resource = OtelResource.layer({
        serviceName: tracing.serviceName,
        serviceVersion: PACKAGE_VERSION,
        attributes: { "service.instance.id": selfAddress(node), ...tracing.attributes }
      })
      const provider = Layer.scoped(
        OtelTracer.OtelTracerProvider,
        Effect.flatMap(OtelResource.Resource, (resource) =>
          Effect.acquireRelease(
            Effect.sync(() =>
              new BasicTracerProvider({
                resource,
                // The decision is made before spans exist (`sample`): every span that is made is recorded.
                sampler: new AlwaysOnSampler(),
                spanProcessors: [new BatchSpanProcessor(exporter)]
              })
            ),
            (provider) => Effect.promise(() => provider.shutdown())
          ))
      ).pipe(Layer.provide(resource))
      yield* Effect.logInfo("tracing on").pipe(
        Effect.annotateLogs({ url, protocol: tracing.protocol, sampler: tracing.sampler.name, ratio: tracing.sampler.ratio })
      )
      return Layer.merge(
        Layer.succeed(Telemetry, { tracing: true, sample: (parentSampled) => env.decide(tracing.sampler, parentSampled, Math.random) }),
        Layer.discard(OtelTracer.layer).pipe(Layer.provide(provider), Layer.provide(resource))
      )
    })
  )
}
