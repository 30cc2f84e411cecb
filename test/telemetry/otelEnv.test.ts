import { describe, expect, it } from "@effect/vitest"
import * as env from "../../src/telemetry/otelEnv.js"

const url = (text: string) => {
  const parsed = env.parseEndpoint(text)
  if (!parsed.ok) throw new Error(parsed.error)
  return parsed.value
}

describe("otelEnv", () => {
  it("finds the traces URL: a signal-specific one as given, else the base with /v1/traces for HTTP, as is for gRPC", () => {
    expect(env.tracesUrl("http/protobuf", url("http://collector:4318"), undefined)).toBe("http://collector:4318/v1/traces")
    expect(env.tracesUrl("http/json", url("http://collector:4318/prefix/"), undefined)).toBe("http://collector:4318/prefix/v1/traces")
    expect(env.tracesUrl("grpc", url("http://collector:4317"), undefined)).toBe("http://collector:4317/")
    expect(env.tracesUrl("http/protobuf", url("http://a:1"), url("https://b:2/custom"))).toBe("https://b:2/custom")
    expect(env.tracesUrl("http/protobuf", undefined, undefined)).toBeUndefined()
  })

  it("refuses endpoints that are not http(s) URLs", () => {
    expect(env.parseEndpoint("collector:4318")).toMatchObject({ ok: false })
    expect(env.parseEndpoint("not a url")).toMatchObject({ ok: false, error: expect.stringContaining("is not a URL") })
  })

  it("reads sampler ratios from 0 to 1 only, and defaults as the README says", () => {
    expect(env.parseRatio("0.25")).toEqual({ ok: true, value: 0.25 })
    for (const bad of ["", "1.5", "-0.1", "half"]) expect(env.parseRatio(bad)).toMatchObject({ ok: false })
    expect(env.samplerSpec(undefined, undefined)).toEqual({ name: "parentbased_traceidratio", ratio: 0.01 })
    expect(env.samplerSpec(undefined, 0.5)).toEqual({ name: "parentbased_traceidratio", ratio: 0.5 })
    // The spec: a ratio sampler named without an argument keeps everything.
    expect(env.samplerSpec("traceidratio", undefined)).toEqual({ name: "traceidratio", ratio: 1 })
  })

  it("decides like the OTel samplers: parent-based ones follow a caller's flag, ratio ones keep that share of roots", () => {
    const spec = (name: env.SamplerName, ratio = 0.25) => ({ name, ratio })
    const draws = Array.from({ length: 1000 }, (_, i) => (i + 0.5) / 1000)
    const kept = (name: env.SamplerName, parent: boolean | undefined) => {
      let i = 0
      return draws.filter(() => env.decide(spec(name), parent, () => draws[i++]!)).length
    }
    expect([kept("always_on", false), kept("always_off", true)]).toEqual([1000, 0])
    expect([kept("parentbased_always_on", undefined), kept("parentbased_always_on", false)]).toEqual([1000, 0])
    expect([kept("parentbased_always_off", undefined), kept("parentbased_always_off", true)]).toEqual([0, 1000])
    expect([kept("parentbased_traceidratio", undefined), kept("parentbased_traceidratio", true), kept("parentbased_traceidratio", false)])
      .toEqual([250, 1000, 0])
    // A plain ratio sampler ignores the caller.
    expect([kept("traceidratio", true), kept("traceidratio", false)]).toEqual([250, 250])
  })

  it("parses resource attributes with percent-decoding and refuses pairs without a key", () => {
    expect(env.parseResourceAttributes("deployment.environment.name=prod, team=cache%2Cinfra,,")).toEqual({
      ok: true,
      value: { "deployment.environment.name": "prod", team: "cache,infra" }
    })
    expect(env.parseResourceAttributes("=x")).toMatchObject({ ok: false })
    expect(env.parseResourceAttributes("novalue")).toMatchObject({ ok: false })
    expect(env.parseResourceAttributes("a=%zz")).toMatchObject({ ok: false })
  })
})
