/**
 * Checks on tracing and metrics in the compose setup: the nodes' OTLP
 * exporters against the collector's receivers, deploy/otel-collector.yaml's
 * pipelines against Jaeger, and deploy/prometheus.yml's targets against the
 * nodes' admin ports. Each takes the parsed files, so the tests can also feed
 * it damaged copies.
 */
import { expect } from "vitest"
import { addressesOf, cacheNodesOf, envOf, mountedAt, portsOf, servicesOf } from "./composeFile.js"
import { list, type Mapping, mapping, text } from "./files.js"
import { hostPort } from "./nodeConfig.js"

/** Port of a listen address such as `0.0.0.0:4317` or `:4317`. */
const portOf = (address: string, what: string): number => {
  const port = Number(address.slice(address.lastIndexOf(":") + 1))
  expect(Number.isInteger(port) && port > 0, `${what} "${address}" has a port`).toBe(true)
  return port
}

const otlpListenPorts = (name: string, service: Mapping, collectorConfig: unknown): { grpc: number; http: number } => {
  const image = text(service.image, `${name} image`)
  const env = envOf(service)
  if (image.startsWith("jaegertracing/all-in-one:")) {
    expect(env.COLLECTOR_OTLP_ENABLED, `${name}: OTLP is not disabled`).not.toBe("false")
    return {
      grpc: portOf(env.COLLECTOR_OTLP_GRPC_HOST_PORT ?? ":4317", `${name} COLLECTOR_OTLP_GRPC_HOST_PORT`),
      http: portOf(env.COLLECTOR_OTLP_HTTP_HOST_PORT ?? ":4318", `${name} COLLECTOR_OTLP_HTTP_HOST_PORT`)
    }
  }
  if (image.startsWith("jaegertracing/jaeger:")) return { grpc: 4317, http: 4318 }
  if (image.startsWith("otel/opentelemetry-collector")) {
    const protocols = mapping(mapping(mapping(collectorConfig, "collector config").receivers, "receivers").otlp, "otlp receiver")
      .protocols
    const endpoint = (protocol: "grpc" | "http") => {
      const raw = text(mapping(mapping(protocols, "otlp protocols")[protocol], `otlp ${protocol}`).endpoint, `otlp ${protocol} endpoint`)
      // The collector binds localhost by default since 0.104: other containers could not reach it.
      expect(raw.slice(0, raw.lastIndexOf(":")), `the otlp ${protocol} receiver binds every interface`).toMatch(/^(0\.0\.0\.0|\[::\]|)$/)
      return portOf(raw, `otlp ${protocol} endpoint`)
    }
    return { grpc: endpoint("grpc"), http: endpoint("http") }
  }
  return expect.fail(`${name} (${image}) is not a known OTLP receiver`)
}

/** Where the collector service reads its config, and that it is deploy/otel-collector.yaml. */
const checkCollectorMount = (compose: unknown, collectorName: string) => {
  const collector = servicesOf(compose)[collectorName] ?? {}
  const command = collector.command === undefined ? [] : Array.isArray(collector.command)
    ? collector.command.map(String)
    : String(collector.command).split(/\s+/)
  const flag = command.join(" ").match(/--config[= ](\S+)/)
  const configPath = flag?.[1] ?? "/etc/otelcol-contrib/config.yaml"
  expect(mountedAt(collector, "deploy/otel-collector.yaml"), "deploy/otel-collector.yaml is mounted where --config reads")
    .toBe(configPath)
}

export const checkNodeTracing = (compose: unknown, collectorConfig: unknown) => {
  const services = servicesOf(compose)
  for (const [name, service] of Object.entries(cacheNodesOf(compose))) {
    const env = envOf(service)
    const endpoint = new URL(text(env.OTEL_EXPORTER_OTLP_ENDPOINT, `${name} OTEL_EXPORTER_OTLP_ENDPOINT`))
    const target = services[endpoint.hostname]
    expect(target, `${name}: OTLP endpoint ${endpoint.hostname} is a service`).toBeDefined()
    checkCollectorMount(compose, endpoint.hostname)
    const protocol = env.OTEL_EXPORTER_OTLP_PROTOCOL ?? "http/protobuf"
    expect(["grpc", "http/protobuf", "http/json"], `${name}: OTEL_EXPORTER_OTLP_PROTOCOL`).toContain(protocol)
    const ports = otlpListenPorts(endpoint.hostname, target ?? {}, collectorConfig)
    const expected = protocol === "grpc" ? ports.grpc : ports.http
    expect(Number(endpoint.port), `${name}: ${protocol} goes to the collector's ${protocol === "grpc" ? "gRPC" : "HTTP"} port`)
      .toBe(expected)
    expect(endpoint.protocol, `${name}: plain http to the collector (it has no TLS here)`).toBe("http:")
    expect(
      ["parentbased_always_on", "always_on", "parentbased_traceidratio", "traceidratio", "parentbased_always_off", "always_off"],
      `${name}: OTEL_TRACES_SAMPLER`
    ).toContain(env.OTEL_TRACES_SAMPLER ?? "parentbased_traceidratio")
  }
}

const OTLP_GRPC_EXPORTERS = ["otlp", "otlp_grpc"]
const OTLP_HTTP_EXPORTERS = ["otlphttp", "otlp_http"]

export const checkCollectorConfig = (collectorConfig: unknown, compose: unknown) => {
  const config = mapping(collectorConfig, "collector config")
  const defined = (section: string) => Object.keys(config[section] === undefined ? {} : mapping(config[section], section))
  const service = mapping(config.service, "collector service section")
  for (const extension of service.extensions === undefined ? [] : list(service.extensions, "service.extensions")) {
    expect(defined("extensions"), `extension ${String(extension)} is defined`).toContain(extension)
  }
  const pipelines = mapping(service.pipelines, "pipelines")
  expect(Object.keys(pipelines), "a traces pipeline").toContain("traces")
  const usedExporters = new Set<string>()
  for (const [name, pipeline] of Object.entries(pipelines)) {
    const p = mapping(pipeline, `pipeline ${name}`)
    for (const kind of ["receivers", "processors", "exporters"] as const) {
      const ids = p[kind] === undefined ? [] : list(p[kind], `${name}.${kind}`).map(String)
      if (kind !== "processors") expect(ids.length, `pipeline ${name} has ${kind}`).toBeGreaterThan(0)
      for (const id of ids) expect(defined(kind), `pipeline ${name}: ${kind.slice(0, -1)} ${id} is defined`).toContain(id)
      if (kind === "exporters") ids.forEach((id) => usedExporters.add(id))
    }
  }
  expect(mapping(pipelines.traces, "traces").receivers, "traces come in over OTLP").toContain("otlp")
  const services = servicesOf(compose)
  const exporters = mapping(config.exporters, "exporters")
  for (const id of usedExporters) {
    const type = id.split("/")[0] ?? ""
    const grpc = OTLP_GRPC_EXPORTERS.includes(type)
    if (!grpc && !OTLP_HTTP_EXPORTERS.includes(type)) continue
    const exporter = mapping(exporters[id], `exporter ${id}`)
    const raw = text(exporter.endpoint, `exporter ${id} endpoint`)
    const url = new URL(raw.includes("://") ? raw : `http://${raw}`)
    const target = services[url.hostname]
    expect(target, `exporter ${id}: ${url.hostname} is a compose service`).toBeDefined()
    const ports = otlpListenPorts(url.hostname, target ?? {}, collectorConfig)
    expect(Number(url.port), `exporter ${id}: ${url.hostname} takes OTLP/${grpc ? "gRPC" : "HTTP"} there`)
      .toBe(grpc ? ports.grpc : ports.http)
    if (grpc && !raw.startsWith("https://")) {
      // Jaeger's OTLP receiver has no TLS here: without this the exporter tries a TLS handshake and fails.
      expect(mapping(exporter.tls, `exporter ${id} tls`).insecure, `exporter ${id}: tls.insecure`).toBe(true)
    }
  }
  expect([...usedExporters].some((id) => OTLP_GRPC_EXPORTERS.concat(OTLP_HTTP_EXPORTERS).includes(id.split("/")[0] ?? "")),
    "traces are exported over OTLP").toBe(true)
}

export const checkPrometheus = (compose: unknown, prometheusConfig: unknown) => {
  const services = servicesOf(compose)
  const prometheus = services.prometheus
  expect(prometheus, "a prometheus service").toBeDefined()
  expect(mountedAt(prometheus ?? {}, "deploy/prometheus.yml"), "deploy/prometheus.yml is where Prometheus reads its config")
    .toBe("/etc/prometheus/prometheus.yml")
  const scraped = new Set<string>()
  for (const job of list(mapping(prometheusConfig, "prometheus config").scrape_configs, "scrape_configs")) {
    const j = mapping(job, "scrape job")
    expect(j.metrics_path ?? "/metrics", `job ${String(j.job_name)}: metrics path`).toBe("/metrics")
    for (const staticConfig of list(j.static_configs, "static_configs")) {
      for (const target of list(mapping(staticConfig, "static config").targets, "targets")) {
        const { host, port } = hostPort(String(target), "scrape target")
        const node = cacheNodesOf(compose)[host]
        expect(node, `scrape target ${host} is a cache node`).toBeDefined()
        expect(port, `scrape target ${host}: its admin port`).toBe(addressesOf(host, node ?? {}).admin.port)
        scraped.add(host)
      }
    }
  }
  expect([...scraped].sort(), "every node is scraped").toEqual(Object.keys(cacheNodesOf(compose)).sort())
  expect(portsOf(prometheus ?? {}).some((p) => p.target === 9090 && p.published === 9090), "Prometheus UI on 9090").toBe(true)
}
