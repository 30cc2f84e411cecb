/**
 * Pure parsers for the standard OpenTelemetry variables (as the OTel SDK
 * specification defines them). The SDK falls back silently on a bad value;
 * a node refuses to start instead, naming the variable.
 */
import type { Parsed } from "../config/parse.js"

const ok = <A>(value: A): Parsed<A> => ({ ok: true, value })
const fail = (error: string): Parsed<never> => ({ ok: false, error })

/** Wire protocol of the OTLP exporter. */
export type OtlpProtocol = "http/protobuf" | "http/json" | "grpc"
export const OTLP_PROTOCOLS: ReadonlyArray<OtlpProtocol> = ["http/protobuf", "http/json", "grpc"]

export type SamplerName =
  | "always_on"
  | "always_off"
  | "traceidratio"
  | "parentbased_always_on"
  | "parentbased_always_off"
  | "parentbased_traceidratio"
export const SAMPLERS: ReadonlyArray<SamplerName> = [
  "always_on",
  "always_off",
  "traceidratio",
  "parentbased_always_on",
  "parentbased_always_off",
  "parentbased_traceidratio"
]

/** Which root spans are recorded; a `parentbased_` sampler follows the caller's decision when there is one. */
export interface SamplerSpec {
  readonly name: SamplerName
  /** Share of traces kept by a ratio sampler, 0-1. */
  readonly ratio: number
}

/**
 * The default when `OTEL_TRACES_SAMPLER` is unset: 1% of new traces, and
 * whatever a caller that sends `traceparent` decided. The OTel default
 * (every trace) would cost a cache serving tens of thousands of calls a
 * second more than the calls themselves; the README gives the measured cost.
 */
export const DEFAULT_SAMPLER: SamplerSpec = { name: "parentbased_traceidratio", ratio: 0.01 }

/**
 * The sampling decision for a new span: `parentSampled` is the caller's
 * flag when a caller's trace context came with the call. Made before any
 * span exists, so an unsampled call costs one comparison rather than a
 * span that records nothing.
 */
export const decide = (spec: SamplerSpec, parentSampled: boolean | undefined, random: () => number): boolean => {
  switch (spec.name) {
    case "always_on":
      return true
    case "always_off":
      return false
    case "traceidratio":
      return random() < spec.ratio
    case "parentbased_always_on":
      return parentSampled ?? true
    case "parentbased_always_off":
      return parentSampled ?? false
    case "parentbased_traceidratio":
      return parentSampled ?? random() < spec.ratio
  }
}

/** Parses an absolute http(s) URL (an OTLP endpoint). */
export const parseEndpoint = (raw: string): Parsed<URL> => {
  const text = raw.trim()
  let url: URL
  try {
    url = new URL(text)
  } catch {
    return fail(`"${text}" is not a URL; expected for example http://otel-collector:4318`)
  }
  return url.protocol === "http:" || url.protocol === "https:" ? ok(url) : fail(`"${text}" must be an http or https URL`)
}

/** `OTEL_TRACES_SAMPLER_ARG` for a ratio sampler: a number from 0 to 1. */
export const parseRatio = (raw: string): Parsed<number> => {
  const text = raw.trim()
  const ratio = Number(text)
  return text !== "" && Number.isFinite(ratio) && ratio >= 0 && ratio <= 1
    ? ok(ratio)
    : fail(`"${raw}" is not a ratio from 0 to 1`)
}

/** The sampler from `OTEL_TRACES_SAMPLER` and its argument (1.0 for a ratio sampler given none, as the spec says). */
export const samplerSpec = (name: SamplerName | undefined, ratio: number | undefined): SamplerSpec =>
  name === undefined ? { ...DEFAULT_SAMPLER, ratio: ratio ?? DEFAULT_SAMPLER.ratio } : { name, ratio: ratio ?? 1 }

/**
 * Parses `OTEL_RESOURCE_ATTRIBUTES`: `key=value` pairs separated by commas,
 * values percent-encoded where they contain `,` `=` or spaces.
 */
export const parseResourceAttributes = (raw: string): Parsed<Record<string, string>> => {
  const attributes: Record<string, string> = {}
  for (const item of raw.split(",")) {
    if (item.trim() === "") continue
    const eq = item.indexOf("=")
    const key = eq < 0 ? "" : item.slice(0, eq).trim()
    if (key === "") return fail(`"${item.trim()}" is not key=value`)
    try {
      attributes[key] = decodeURIComponent(item.slice(eq + 1).trim())
    } catch {
      return fail(`the value of ${key} is not valid percent-encoding`)
    }
  }
  return ok(attributes)
}

/** Where an exporter sends traces: a signal-specific URL as given, or the base URL with the OTLP/HTTP path. */
export const tracesUrl = (protocol: OtlpProtocol, base: URL | undefined, signalSpecific: URL | undefined): string | undefined => {
  if (signalSpecific !== undefined) return signalSpecific.href
  if (base === undefined) return undefined
  if (protocol === "grpc") return base.href
  return new URL(base.pathname.replace(/\/?$/, "/v1/traces"), base).href
}
