/**
 * The deployment files, checked by construction: there is no container engine
 * here, so docker-compose.yml, the collector and Prometheus configs, the
 * Kubernetes manifests and the Dockerfile are parsed and their cross-references
 * checked (names, ports, addresses, grace periods) against each other and
 * against the node's own parsers. Every check is a function over the parsed
 * files; "catches broken files" feeds each one a damaged copy and expects it to
 * fail, so none of them passes whatever the files say. The image's health
 * check script is run for real against a local HTTP server.
 */
import { execFile } from "node:child_process"
import { existsSync, readdirSync, readFileSync } from "node:fs"
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { dirname, join, posix } from "node:path"
import { fileURLToPath } from "node:url"
import { describe, expect, it } from "vitest"
import { parse, parseAllDocuments } from "yaml"
import { formatHostPort, type HostPort, parseDurationMs, parseHostPort, parsePeerList } from "../../src/config/parse.js"

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), "..", "..")
const read = (path: string): string => readFileSync(join(repoRoot, path), "utf8")

/** README: a PEERS entry without a port means 8080; DRAIN_TIMEOUT 10 s and HANDOFF_TIMEOUT 30 s by default. */
const DEFAULT_PEER_PORT = 8080
const DEFAULT_DRAIN_MS = 10_000
const DEFAULT_HANDOFF_MS = 30_000
/** After the hand-off the node still announces its leave and flushes its last spans. */
const SHUTDOWN_MARGIN_MS = 10_000

// ---- reading parsed YAML without trusting its shape ---------------------------

type Mapping = Record<string, unknown>

const isMapping = (value: unknown): value is Mapping =>
  typeof value === "object" && value !== null && !Array.isArray(value)

const mapping = (value: unknown, what: string): Mapping => {
  expect(isMapping(value), `${what} is a mapping`).toBe(true)
  return value as Mapping
}

const list = (value: unknown, what: string): ReadonlyArray<unknown> => {
  expect(Array.isArray(value), `${what} is a list`).toBe(true)
  return value as ReadonlyArray<unknown>
}

const text = (value: unknown, what: string): string => {
  expect(typeof value, `${what} is a string`).toBe("string")
  return value as string
}

const hostPort = (raw: string, what: string): HostPort => {
  const parsed = parseHostPort(raw)
  if (!parsed.ok) expect.fail(`${what} "${raw}": ${parsed.error}`)
  return parsed.value
}

const durationMs = (raw: string, what: string): number => {
  const parsed = parseDurationMs(raw)
  if (!parsed.ok) expect.fail(`${what}: ${parsed.error}`)
  return parsed.value
}

/** Port of a listen address such as `0.0.0.0:4317` or `:4317`. */
const portOf = (address: string, what: string): number => {
  const port = Number(address.slice(address.lastIndexOf(":") + 1))
  expect(Number.isInteger(port) && port > 0, `${what} "${address}" has a port`).toBe(true)
  return port
}

/** Go durations as Compose writes them: `60s`, `1m30s`, `500ms`. */
const composeDurationMs = (raw: unknown, what: string): number => {
  const value = String(raw).trim()
  const unitMs: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 }
  const parts = [...value.matchAll(/(\d+(?:\.\d+)?)(us|ms|s|m|h)/g)]
  expect(parts.length > 0 && parts.map((p) => p[0]).join("") === value, `${what} "${value}" is a duration`).toBe(true)
  return parts.reduce((ms, p) => ms + Number(p[1]) * (unitMs[p[2] ?? ""] ?? Number.NaN), 0)
}

// ---- docker-compose.yml -----------------------------------------------------------

const loadYaml = (path: string): unknown => parse(read(path), { merge: true })

const servicesOf = (compose: unknown): Record<string, Mapping> => {
  const services = mapping(mapping(compose, "the compose file").services, "services")
  return Object.fromEntries(Object.entries(services).map(([name, service]) => [name, mapping(service, `service ${name}`)]))
}

/** A service's environment, in either of Compose's two forms. */
const envOf = (service: Mapping): Record<string, string> => {
  const env = service.environment
  if (env === undefined || env === null) return {}
  if (Array.isArray(env)) {
    return Object.fromEntries(env.map((item) => {
      const entry = String(item)
      const eq = entry.indexOf("=")
      return eq < 0 ? [entry, ""] : [entry.slice(0, eq), entry.slice(eq + 1)]
    }))
  }
  return Object.fromEntries(Object.entries(mapping(env, "environment")).map(([k, v]) => [k, String(v)]))
}

/** The cache nodes: the services built from this repository. */
const cacheNodesOf = (compose: unknown): Record<string, Mapping> =>
  Object.fromEntries(Object.entries(servicesOf(compose)).filter(([, service]) => {
    const build = service.build
    const context = isMapping(build) ? build.context : build
    return context === "." || context === "./"
  }))

interface NodeAddresses {
  readonly addr: HostPort
  readonly listen: HostPort
  readonly admin: HostPort
}

/** ADDR, LISTEN_ADDR (default ADDR) and ADMIN_ADDR (default LISTEN_ADDR's port + 1000), as the node reads them. */
const addressesOf = (name: string, service: Mapping): NodeAddresses => {
  const env = envOf(service)
  const addr = hostPort(env.ADDR ?? "localhost:8080", `${name} ADDR`)
  const listen = env.LISTEN_ADDR === undefined ? addr : hostPort(env.LISTEN_ADDR, `${name} LISTEN_ADDR`)
  expect(env.ADMIN_ADDR?.toLowerCase(), `${name}: the admin server is on (health checks and metrics need it)`).not.toBe("off")
  const admin = env.ADMIN_ADDR === undefined
    ? { host: listen.host, port: listen.port + 1000 }
    : hostPort(env.ADMIN_ADDR, `${name} ADMIN_ADDR`)
  return { addr, listen, admin }
}

interface PortMapping {
  readonly hostIp: string | undefined
  readonly published: number | undefined
  readonly target: number
}

/** `8080`, `8080:8080`, `127.0.0.1:9080:9080`, `8080:8080/tcp`, or the long form. */
const portMapping = (spec: unknown): PortMapping => {
  if (isMapping(spec)) {
    return {
      hostIp: spec.host_ip === undefined ? undefined : String(spec.host_ip),
      published: spec.published === undefined ? undefined : Number(spec.published),
      target: Number(spec.target)
    }
  }
  const parts = String(spec).replace(/\/(tcp|udp)$/, "").split(":")
  return {
    hostIp: parts.length === 3 ? parts[0] : undefined,
    published: parts.length >= 2 ? Number(parts[parts.length - 2]) : undefined,
    target: Number(parts[parts.length - 1])
  }
}

const portsOf = (service: Mapping): ReadonlyArray<PortMapping> =>
  service.ports === undefined ? [] : list(service.ports, "ports").map(portMapping)

/** The URL a healthcheck's command fetches. */
const healthcheckUrl = (name: string, service: Mapping): URL => {
  const test = list(mapping(service.healthcheck, `${name} healthcheck`).test, `${name} healthcheck test`)
  const command = test.map(String).join(" ")
  const match = /https?:\/\/[^\s'"`)]+/.exec(command)
  expect(match, `${name}: the healthcheck fetches a URL`).not.toBeNull()
  return new URL(match?.[0] ?? "")
}

interface Mount {
  readonly source: string
  readonly target: string
}

const mountsOf = (service: Mapping): ReadonlyArray<Mount> =>
  service.volumes === undefined ? [] : list(service.volumes, "volumes").map((volume) => {
    if (isMapping(volume)) return { source: String(volume.source), target: String(volume.target) }
    const [source = "", target = ""] = String(volume).split(":")
    return { source, target }
  })

/** The container path a repository file is mounted at, if it is. */
const mountedAt = (service: Mapping, repoPath: string): string | undefined =>
  mountsOf(service).find((m) => posix.normalize(m.source) === posix.normalize(`./${repoPath}`))?.target

const dependenciesOf = (service: Mapping): Record<string, string> => {
  const deps = service.depends_on
  if (deps === undefined) return {}
  if (Array.isArray(deps)) return Object.fromEntries(deps.map((d) => [String(d), "service_started"]))
  return Object.fromEntries(Object.entries(mapping(deps, "depends_on")).map(([name, spec]) => [
    name,
    isMapping(spec) && spec.condition !== undefined ? String(spec.condition) : "service_started"
  ]))
}

const checkCacheNodes = (compose: unknown) => {
  const nodes = cacheNodesOf(compose)
  expect(Object.keys(nodes).sort()).toEqual(["cache1", "cache2", "cache3"])
  // One definition shared through the x-cache-node anchor: same build, checks and grace period.
  const shared = (service: Mapping) => JSON.stringify([service.build, service.healthcheck, service.stop_grace_period, service.depends_on])
  const first = shared(nodes.cache1 ?? {})
  for (const [name, service] of Object.entries(nodes)) expect(shared(service), `${name} shares the node definition`).toBe(first)
}

const checkPeers = (compose: unknown) => {
  const services = servicesOf(compose)
  const nodes = cacheNodesOf(compose)
  for (const [name, service] of Object.entries(nodes)) {
    const raw = envOf(service).PEERS
    expect(raw, `${name} has PEERS`).toBeDefined()
    const peers = parsePeerList(raw ?? "", DEFAULT_PEER_PORT)
    if (!peers.ok) expect.fail(`${name} PEERS: ${peers.error}`)
    const hosts = peers.value.map((p) => p.host)
    expect(new Set(hosts).size, `${name}: PEERS has no duplicates`).toBe(hosts.length)
    for (const peer of peers.value) {
      expect(Object.keys(services), `${name}: PEERS entry ${peer.host} is a service`).toContain(peer.host)
      expect(peer.host, `${name} does not list itself in PEERS`).not.toBe(name)
      const other = services[peer.host] ?? {}
      expect(peer.port, `${name}: ${peer.host} listens on the port PEERS dials`).toBe(addressesOf(peer.host, other).listen.port)
    }
    // Any one seed is enough to join, but naming all the others lets a node join whichever starts first.
    expect([...hosts, name].sort(), `${name}: PEERS names every other node`).toEqual(Object.keys(nodes).sort())
  }
}

const checkAddresses = (compose: unknown) => {
  for (const [name, service] of Object.entries(cacheNodesOf(compose))) {
    const { addr, listen, admin } = addressesOf(name, service)
    expect(addr.host, `${name}: ADDR is the name the others reach it by`).toBe(name)
    // Containers talk to each other's container ports: the port peers dial is the one the node binds.
    expect(addr.port, `${name}: ADDR's port is LISTEN_ADDR's`).toBe(listen.port)
    for (const [what, bind] of [["LISTEN_ADDR", listen], ["ADMIN_ADDR", admin]] as const) {
      expect(["0.0.0.0", "::"], `${name}: ${what} binds every interface, not ${bind.host}`).toContain(bind.host)
    }
    expect(admin.port, `${name}: gRPC and admin ports differ`).not.toBe(listen.port)
  }
}

const checkNodePorts = (compose: unknown) => {
  const nodes = cacheNodesOf(compose)
  for (const [name, service] of Object.entries(nodes)) {
    const { listen, admin } = addressesOf(name, service)
    for (const port of portsOf(service)) {
      expect([listen.port, admin.port], `${name}: published container port ${port.target} is one it listens on`)
        .toContain(port.target)
    }
    if (service.expose !== undefined) {
      expect(list(service.expose, "expose").map(Number).sort(), `${name}: expose lists its ports`)
        .toEqual([listen.port, admin.port].sort())
    }
    const url = healthcheckUrl(name, service)
    expect(url.pathname, `${name}: the healthcheck asks for readiness`).toBe("/readyz")
    expect(Number(url.port), `${name}: the healthcheck asks the admin port`).toBe(admin.port)
    expect(["127.0.0.1", "localhost", "[::1]"], `${name}: the healthcheck asks this container`).toContain(url.hostname)
  }
  // The README's commands: grpcurl localhost:8080 and `pnpm cli --admin localhost:9080`.
  const cache1 = nodes.cache1 ?? {}
  const { listen, admin } = addressesOf("cache1", cache1)
  const published = portsOf(cache1)
  for (const [what, port, hostPort] of [["gRPC", listen.port, 8080], ["admin", admin.port, 9080]] as const) {
    expect(published.some((p) => p.target === port && p.published === hostPort), `cache1 publishes ${what} on ${hostPort}`)
      .toBe(true)
  }
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

const checkNodeTracing = (compose: unknown, collectorConfig: unknown) => {
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

const checkCollectorConfig = (collectorConfig: unknown, compose: unknown) => {
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

const checkDependsOn = (compose: unknown) => {
  const services = servicesOf(compose)
  const conditions = ["service_started", "service_healthy", "service_completed_successfully"]
  for (const [name, service] of Object.entries(services)) {
    for (const [dep, condition] of Object.entries(dependenciesOf(service))) {
      expect(Object.keys(services), `${name} depends on a defined service`).toContain(dep)
      expect(dep, `${name} does not depend on itself`).not.toBe(name)
      expect(conditions, `${name} -> ${dep}: condition`).toContain(condition)
      if (condition === "service_healthy") {
        expect(services[dep]?.healthcheck, `${name} waits for ${dep} to be healthy, so ${dep} has a healthcheck`).toBeDefined()
      }
    }
  }
  const visiting = new Set<string>()
  const done = new Set<string>()
  const visit = (name: string, path: ReadonlyArray<string>) => {
    if (done.has(name)) return
    expect(visiting.has(name), `no dependency cycle: ${[...path, name].join(" -> ")}`).toBe(false)
    visiting.add(name)
    for (const dep of Object.keys(dependenciesOf(services[name] ?? {}))) visit(dep, [...path, name])
    visiting.delete(name)
    done.add(name)
  }
  Object.keys(services).forEach((name) => visit(name, []))
  for (const [name, service] of Object.entries(cacheNodesOf(compose))) {
    const collector = new URL(envOf(service).OTEL_EXPORTER_OTLP_ENDPOINT ?? "http://none").hostname
    expect(Object.keys(dependenciesOf(service)), `${name} starts after the collector it sends traces to`).toContain(collector)
  }
}

const shutdownBudgetMs = (env: Record<string, string | undefined>, what: string): number =>
  (env.DRAIN_TIMEOUT === undefined ? DEFAULT_DRAIN_MS : durationMs(env.DRAIN_TIMEOUT, `${what} DRAIN_TIMEOUT`)) +
  (env.HANDOFF_TIMEOUT === undefined ? DEFAULT_HANDOFF_MS : durationMs(env.HANDOFF_TIMEOUT, `${what} HANDOFF_TIMEOUT`)) +
  SHUTDOWN_MARGIN_MS

const checkStopGrace = (compose: unknown) => {
  for (const [name, service] of Object.entries(cacheNodesOf(compose))) {
    // Compose's default is 10 s: far too short for a hand-off.
    expect(service.stop_grace_period, `${name} sets stop_grace_period`).toBeDefined()
    const grace = composeDurationMs(service.stop_grace_period, `${name} stop_grace_period`)
    expect(grace, `${name}: stop_grace_period covers drain + hand-off + margin`)
      .toBeGreaterThanOrEqual(shutdownBudgetMs(envOf(service), name))
  }
}

const checkPrometheus = (compose: unknown, prometheusConfig: unknown) => {
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

const checkImagesPinned = (compose: unknown) => {
  for (const [name, service] of Object.entries(servicesOf(compose))) {
    if (service.build !== undefined) continue
    const image = text(service.image, `${name} image`)
    const tag = image.includes("@sha256:") ? "digest" : image.slice(image.lastIndexOf("/") + 1).split(":")[1]
    expect(tag, `${name}: ${image} names a version`).toBeDefined()
    expect(tag, `${name}: ${image} is pinned`).not.toBe("latest")
  }
  const jaeger = servicesOf(compose).jaeger ?? {}
  expect(portsOf(jaeger).some((p) => p.target === 16686 && p.published === 16686), "Jaeger UI on 16686").toBe(true)
}

// ---- Kubernetes ------------------------------------------------------------------

const K8S_DIR = "deploy/k8s"
const TEST_NAMESPACE = "ns-under-test"

const loadK8s = (): ReadonlyArray<Mapping> => {
  const files = readdirSync(join(repoRoot, K8S_DIR)).filter((f) => /\.ya?ml$/.test(f)).sort()
  expect(files.length, "deploy/k8s has manifests").toBeGreaterThan(0)
  return files.flatMap((file) =>
    Array.from(parseAllDocuments(read(`${K8S_DIR}/${file}`))).flatMap((doc) => {
      expect(doc.errors.map((e) => e.message), `${file} parses`).toEqual([])
      const value: unknown = doc.toJS()
      return value === null || value === undefined ? [] : [mapping(value, `a document of ${file}`)]
    })
  )
}

const ofKind = (docs: ReadonlyArray<Mapping>, kind: string): ReadonlyArray<Mapping> => docs.filter((d) => d.kind === kind)
const nameOf = (doc: Mapping): string => text(mapping(doc.metadata, "metadata").name, "metadata.name")
const labelsMatch = (selector: unknown, labels: unknown): boolean =>
  Object.entries(mapping(selector, "selector")).every(([k, v]) => mapping(labels, "labels")[k] === v)

interface StatefulSetView {
  readonly name: string
  readonly spec: Mapping
  readonly pod: Mapping
  readonly labels: Mapping
  readonly container: Mapping
  readonly replicas: number
}

const statefulSetOf = (docs: ReadonlyArray<Mapping>): StatefulSetView => {
  const sets = ofKind(docs, "StatefulSet")
  expect(sets.length, "one StatefulSet").toBe(1)
  const set = sets[0] ?? {}
  const spec = mapping(set.spec, "StatefulSet spec")
  const template = mapping(spec.template, "pod template")
  const pod = mapping(template.spec, "pod spec")
  const containers = list(pod.containers, "containers")
  expect(containers.length, "one container").toBe(1)
  return {
    name: nameOf(set),
    spec,
    pod,
    labels: mapping(mapping(template.metadata, "template metadata").labels, "template labels"),
    container: mapping(containers[0], "container"),
    replicas: Number(spec.replicas ?? 1)
  }
}

/** The container's environment in pod `ordinal`, expanded as the kubelet does ($(VAR) of variables defined before). */
const podEnv = (docs: ReadonlyArray<Mapping>, set: StatefulSetView, ordinal: number): Record<string, string> => {
  const env: Record<string, string> = {}
  for (const source of set.container.envFrom === undefined ? [] : list(set.container.envFrom, "envFrom")) {
    const ref = mapping(mapping(source, "envFrom entry").configMapRef, "configMapRef")
    const configMap = ofKind(docs, "ConfigMap").find((c) => nameOf(c) === ref.name)
    expect(configMap, `ConfigMap ${String(ref.name)} is in ${K8S_DIR}`).toBeDefined()
    for (const [k, v] of Object.entries(mapping(configMap?.data ?? {}, "ConfigMap data"))) env[k] = String(v)
  }
  const fields: Record<string, string> = { "metadata.name": `${set.name}-${ordinal}`, "metadata.namespace": TEST_NAMESPACE }
  for (const item of list(set.container.env ?? [], "env")) {
    const entry = mapping(item, "env entry")
    const name = text(entry.name, "env name")
    if (entry.value !== undefined) {
      env[name] = String(entry.value).replace(/\$\((\w+)\)/g, (whole, ref: string) => env[ref] ?? whole)
    } else {
      const from = mapping(entry.valueFrom, `${name} valueFrom`)
      if (from.fieldRef !== undefined) {
        const path = text(mapping(from.fieldRef, "fieldRef").fieldPath, "fieldPath")
        expect(Object.keys(fields), `${name}: a known downward API field`).toContain(path)
        env[name] = fields[path] ?? ""
      }
    }
  }
  return env
}

/** A probe's or Service's port, by number or by the container port's name. */
const containerPort = (set: StatefulSetView, port: unknown): number => {
  if (typeof port === "number") return port
  const named = list(set.container.ports, "container ports").map((p) => mapping(p, "port"))
    .find((p) => p.name === port)
  expect(named, `container port named ${String(port)}`).toBeDefined()
  return Number(named?.containerPort)
}

const k8sAddresses = (docs: ReadonlyArray<Mapping>, set: StatefulSetView, ordinal: number): NodeAddresses =>
  addressesOf(`pod ${ordinal}`, { environment: podEnv(docs, set, ordinal) })

const checkK8sServices = (docs: ReadonlyArray<Mapping>) => {
  const set = statefulSetOf(docs)
  const headless = ofKind(docs, "Service").find((s) => nameOf(s) === set.spec.serviceName)
  expect(headless, `serviceName ${String(set.spec.serviceName)} is a Service in ${K8S_DIR}`).toBeDefined()
  const headlessSpec = mapping(headless?.spec, "headless spec")
  expect(headlessSpec.clusterIP, "the StatefulSet's Service is headless").toBe("None")
  expect(headlessSpec.publishNotReadyAddresses, "peers resolve before they are ready").toBe(true)
  expect(labelsMatch(mapping(set.spec.selector, "selector").matchLabels, set.labels), "selector matches the pod labels")
    .toBe(true)
  const services = ofKind(docs, "Service")
  expect(services.length, "a headless and a client Service").toBeGreaterThanOrEqual(2)
  const { listen } = k8sAddresses(docs, set, 0)
  for (const service of services) {
    const spec = mapping(service.spec, `Service ${nameOf(service)}`)
    expect(labelsMatch(spec.selector, set.labels), `Service ${nameOf(service)} selects the pods`).toBe(true)
  }
  const client = services.find((s) => mapping(s.spec, "spec").clusterIP !== "None")
  expect(client, "a client Service with a cluster IP").toBeDefined()
  const clientPorts = list(mapping(client?.spec, "client spec").ports, "client ports").map((p) => mapping(p, "port"))
  expect(clientPorts.some((p) => p.port === 8080 && containerPort(set, p.targetPort ?? p.port) === listen.port),
    "the client Service sends 8080 to the gRPC listener").toBe(true)
  const budgets = ofKind(docs, "PodDisruptionBudget")
  expect(budgets.length, "a PodDisruptionBudget").toBe(1)
  const budget = mapping(budgets[0]?.spec, "PDB spec")
  expect(budget.maxUnavailable, "one node down by choice at a time").toBe(1)
  expect(labelsMatch(mapping(budget.selector, "PDB selector").matchLabels, set.labels), "the PDB selects the pods").toBe(true)
}

const checkK8sPeers = (docs: ReadonlyArray<Mapping>) => {
  const set = statefulSetOf(docs)
  const headless = String(set.spec.serviceName)
  expect(set.replicas, "three replicas").toBe(3)
  const envNames = list(set.container.env, "env").map((e) => String(mapping(e, "env").name))
  for (const [dependent, needs] of [["ADDR", "POD_NAME"], ["PEERS", "POD_NAMESPACE"], ["ADDR", "POD_NAMESPACE"]] as const) {
    // $(VAR) expands only from variables defined earlier in the list.
    expect(envNames.indexOf(needs), `${needs} is defined before ${dependent}`).toBeGreaterThanOrEqual(0)
    expect(envNames.indexOf(needs), `${needs} is defined before ${dependent}`).toBeLessThan(envNames.indexOf(dependent))
  }
  const addrs = Array.from({ length: set.replicas }, (_, i) => k8sAddresses(docs, set, i))
  addrs.forEach(({ addr, listen }, i) => {
    expect(addr.host, `pod ${i}: ADDR is its stable DNS name`)
      .toBe(`${set.name}-${i}.${headless}.${TEST_NAMESPACE}.svc.cluster.local`)
    expect(addr.port, `pod ${i}: ADDR's port is LISTEN_ADDR's`).toBe(listen.port)
    expect(["0.0.0.0", "::"], `pod ${i}: LISTEN_ADDR binds every interface`).toContain(listen.host)
    expect(listen.port, `pod ${i}: LISTEN_ADDR's port is the grpc container port`).toBe(containerPort(set, "grpc"))
  })
  for (let ordinal = 0; ordinal < set.replicas; ordinal++) {
    const raw = podEnv(docs, set, ordinal).PEERS ?? ""
    expect(raw, `pod ${ordinal}: PEERS is fully expanded`).not.toContain("$(")
    const peers = parsePeerList(raw, DEFAULT_PEER_PORT)
    if (!peers.ok) expect.fail(`PEERS: ${peers.error}`)
    const pattern = new RegExp(`^${set.name}-(\\d+)\\.${headless}\\.`)
    const ordinals = peers.value.map((peer) => {
      const match = pattern.exec(peer.host)
      expect(match, `PEERS entry ${peer.host} is <statefulset>-<i>.<headless service>...`).not.toBeNull()
      const i = Number(match?.[1])
      expect(i, `PEERS entry ${peer.host}: ordinal below replicas`).toBeLessThan(set.replicas)
      // The same string as that pod's ADDR, so each node recognises (and skips) itself.
      expect(formatHostPort(peer), `PEERS entry ${i} is pod ${i}'s ADDR`).toBe(formatHostPort(addrs[i]?.addr ?? peer))
      return i
    })
    expect(ordinals.sort((a, b) => a - b), "PEERS names each pod once").toEqual(Array.from({ length: set.replicas }, (_, i) => i))
  }
}

const checkK8sProbes = (docs: ReadonlyArray<Mapping>) => {
  const set = statefulSetOf(docs)
  const { admin } = k8sAddresses(docs, set, 0)
  for (const [probe, path] of [["readinessProbe", "/readyz"], ["livenessProbe", "/healthz"]] as const) {
    const http = mapping(mapping(set.container[probe], probe).httpGet, `${probe}.httpGet`)
    expect(http.path, `${probe} path`).toBe(path)
    expect(containerPort(set, http.port), `${probe} asks the ADMIN_ADDR port`).toBe(admin.port)
  }
  expect(containerPort(set, "admin"), "the admin container port is ADMIN_ADDR's").toBe(admin.port)
  const grace = Number(set.pod.terminationGracePeriodSeconds ?? 30) * 1000
  expect(grace, "terminationGracePeriodSeconds covers drain + hand-off + margin")
    .toBeGreaterThanOrEqual(shutdownBudgetMs(podEnv(docs, set, 0), "pod"))
  // Updates one pod at a time, gated by readiness (the default RollingUpdate, at most one unavailable).
  const strategy = set.spec.updateStrategy === undefined ? {} : mapping(set.spec.updateStrategy, "updateStrategy")
  expect(strategy.type ?? "RollingUpdate", "rolling updates").toBe("RollingUpdate")
  const rolling = strategy.rollingUpdate === undefined ? {} : mapping(strategy.rollingUpdate, "rollingUpdate")
  expect(rolling.maxUnavailable ?? 1, "one pod at a time").toBe(1)
}

const checkK8sPod = (docs: ReadonlyArray<Mapping>) => {
  const set = statefulSetOf(docs)
  expect(set.container.image, "the image placeholder").toBe("quorum-cache:latest")
  const resources = mapping(set.container.resources, "resources")
  for (const kind of ["requests", "limits"] as const) {
    const r = mapping(resources[kind], `resources.${kind}`)
    expect(r.memory, `memory ${kind}`).toBeDefined()
    expect(r.cpu, `cpu ${kind}`).toBeDefined()
  }
  const podSecurity = mapping(set.pod.securityContext, "pod securityContext")
  expect(podSecurity.runAsNonRoot, "runAsNonRoot").toBe(true)
  expect(Number(podSecurity.runAsUser), "a non-root uid").toBeGreaterThan(0)
  const security = mapping(set.container.securityContext, "container securityContext")
  expect(security.allowPrivilegeEscalation, "no privilege escalation").toBe(false)
  expect(mapping(security.capabilities, "capabilities").drop, "no capabilities").toContain("ALL")
}

// ---- Dockerfile ---------------------------------------------------------------------

interface Instruction {
  readonly keyword: string
  readonly args: string
}

interface Stage {
  readonly name: string | undefined
  readonly image: string
  readonly instructions: ReadonlyArray<Instruction>
}

/** Instructions with continuation lines joined and comment lines dropped. */
const dockerInstructions = (dockerfile: string): ReadonlyArray<Instruction> => {
  const instructions: Array<Instruction> = []
  let pending = ""
  for (const line of dockerfile.split("\n")) {
    if (/^\s*#/.test(line)) continue
    const continued = /\\\s*$/.test(line)
    pending += continued ? line.replace(/\\\s*$/, " ") : line
    if (continued) continue
    const trimmed = pending.trim()
    pending = ""
    if (trimmed === "") continue
    const space = trimmed.search(/\s/)
    instructions.push({
      keyword: (space < 0 ? trimmed : trimmed.slice(0, space)).toUpperCase(),
      args: space < 0 ? "" : trimmed.slice(space).trim()
    })
  }
  return instructions
}

const dockerStages = (dockerfile: string): ReadonlyArray<Stage> => {
  const instructions = dockerInstructions(dockerfile)
  const globalArgs: Record<string, string> = {}
  const stages: Array<{ name: string | undefined; image: string; instructions: Array<Instruction> }> = []
  for (const instruction of instructions) {
    if (instruction.keyword === "FROM") {
      const [image = "", as, name] = instruction.args.split(/\s+/)
      stages.push({
        name: as?.toUpperCase() === "AS" ? name : undefined,
        image: image.replace(/\$\{(\w+)\}|\$(\w+)/g, (whole, a?: string, b?: string) => globalArgs[a ?? b ?? ""] ?? whole),
        instructions: []
      })
    } else if (stages.length === 0) {
      if (instruction.keyword === "ARG") {
        const [key = "", value = ""] = instruction.args.split("=")
        globalArgs[key.trim()] = value.trim()
      }
    } else {
      stages[stages.length - 1]?.instructions.push(instruction)
    }
  }
  return stages
}

const jsonArray = (raw: string, what: string): ReadonlyArray<string> => {
  let value: unknown
  try {
    value = JSON.parse(raw)
  } catch {
    return expect.fail(`${what} is exec form (a JSON array), not "${raw}"`)
  }
  return list(value, what).map((v) => text(v, what))
}

/** COPY sources and destination, with the --from stage if any. */
const copies = (stage: Stage) =>
  stage.instructions.filter((i) => i.keyword === "COPY").map((i) => {
    const words = i.args.split(/\s+/)
    const from = words.find((w) => w.startsWith("--from="))?.slice("--from=".length)
    const paths = words.filter((w) => !w.startsWith("--"))
    return { from, sources: paths.slice(0, -1), destination: paths[paths.length - 1] ?? "" }
  })

const workdirOf = (stage: Stage): string =>
  stage.instructions.filter((i) => i.keyword === "WORKDIR").reduce((dir, i) => posix.resolve(dir, i.args), "/")

const envOfStage = (stage: Stage): Record<string, string> =>
  Object.fromEntries(stage.instructions.filter((i) => i.keyword === "ENV").flatMap((i) =>
    i.args.split(/\s+/).filter((w) => w.includes("=")).map((w) => [w.slice(0, w.indexOf("=")), w.slice(w.indexOf("=") + 1)])
  ))

const stageRunning = (stages: ReadonlyArray<Stage>, command: RegExp): Stage | undefined =>
  stages.find((s) => s.instructions.some((i) => i.keyword === "RUN" && command.test(i.args)))

const checkDockerStages = (dockerfile: string) => {
  const stages = dockerStages(dockerfile)
  expect(stages.length, "build, production-deps and runtime stages").toBeGreaterThanOrEqual(3)
  const build = stageRunning(stages, /\bpnpm build\b/)
  const deps = stageRunning(stages, /\bpnpm install\b(?=.*--frozen-lockfile)(?=.*--prod\b)/)
  expect(build, "a stage runs pnpm build").toBeDefined()
  expect(deps, "a stage installs production dependencies from the lockfile").toBeDefined()
  for (const stage of stages) {
    const install = stage.instructions.findIndex((i) => i.keyword === "RUN" && /\bpnpm install\b/.test(i.args))
    if (install < 0) continue
    expect(stage.instructions[install]?.args, `${stage.name}: the install keeps to the lockfile`).toMatch(/--frozen-lockfile/)
    // allowBuilds lives in pnpm-workspace.yaml: without it the install scripts esbuild needs do not run.
    const copied = copies({ ...stage, instructions: stage.instructions.slice(0, install) }).flatMap((c) => c.sources)
    for (const file of ["package.json", "pnpm-lock.yaml", "pnpm-workspace.yaml"]) {
      expect(copied, `${stage.name}: ${file} is copied before pnpm install`).toContain(file)
    }
  }
  const runtime = stages[stages.length - 1]
  expect(runtime?.image, "the runtime image").toBe("node:20-bookworm-slim")
  const runtimeCopies = copies(runtime ?? stages[0] ?? { name: undefined, image: "", instructions: [] })
  const named = stages.map((s) => s.name)
  for (const c of runtimeCopies) if (c.from !== undefined) expect(named, `COPY --from=${c.from} names a stage`).toContain(c.from)
  expect(runtimeCopies.some((c) => c.from === deps?.name && c.sources.some((s) => s.endsWith("node_modules"))),
    "node_modules comes from the production-deps stage").toBe(true)
  expect(runtimeCopies.some((c) => c.from === build?.name && c.sources.some((s) => s.endsWith("dist"))),
    "dist comes from the build stage").toBe(true)
  expect(runtime?.instructions.some((i) => i.keyword === "RUN" && /pnpm install/.test(i.args)), "no install in the runtime")
    .toBe(false)
}

const checkDockerRuntime = (dockerfile: string) => {
  const stages = dockerStages(dockerfile)
  const runtime = stages[stages.length - 1] ?? { name: undefined, image: "", instructions: [] }
  const users = runtime.instructions.filter((i) => i.keyword === "USER")
  expect(users.length, "the runtime stage sets USER").toBeGreaterThan(0)
  const user = (users[users.length - 1]?.args ?? "").split(":")[0]
  expect(["root", "0", ""], "USER is not root").not.toContain(user)
  const entrypoints = runtime.instructions.filter((i) => i.keyword === "ENTRYPOINT")
  expect(entrypoints.length, "one ENTRYPOINT").toBe(1)
  const entrypoint = jsonArray(entrypoints[0]?.args ?? "", "ENTRYPOINT")
  expect(entrypoint[0], "ENTRYPOINT runs node directly, so node gets SIGTERM").toBe("node")
  const script = entrypoint[1] ?? ""
  expect(script, "ENTRYPOINT runs dist/main.js").toMatch(/(^|\/)dist\/main\.js$/)
  const workdir = workdirOf(runtime)
  const distAt = copies(runtime).filter((c) => c.sources.some((s) => s.endsWith("dist")))
    .map((c) => posix.resolve(workdir, c.destination))
  expect(distAt.some((dir) => posix.resolve(workdir, script).startsWith(`${dir}/`)), "dist/main.js is where dist is copied")
    .toBe(true)
  // package.json says "type": "module": without it node would load dist/*.js as CommonJS.
  expect(copies(runtime).some((c) => c.from === undefined && c.sources.includes("package.json") &&
    posix.resolve(workdir, c.destination.endsWith("/") ? c.destination : posix.dirname(c.destination)) === workdir),
    "package.json is beside dist").toBe(true)
  const exposed = runtime.instructions.filter((i) => i.keyword === "EXPOSE").flatMap((i) => i.args.split(/\s+/)).map((p) =>
    Number(p.replace(/\/tcp$/, ""))
  )
  const env = envOfStage(runtime)
  const listen = hostPort(env.LISTEN_ADDR ?? env.ADDR ?? "localhost:8080", "image LISTEN_ADDR")
  const admin = env.ADMIN_ADDR === undefined ? listen.port + 1000 : hostPort(env.ADMIN_ADDR, "image ADMIN_ADDR").port
  expect(exposed.sort(), "EXPOSE lists the gRPC and admin ports").toEqual([listen.port, admin].sort())
  expect(exposed.sort(), "EXPOSE 8080 9080").toEqual([8080, 9080])
  expect(["0.0.0.0", "::"], "the image binds every interface by default").toContain(listen.host)
}

const checkDockerHealthcheck = (dockerfile: string) => {
  const stages = dockerStages(dockerfile)
  const runtime = stages[stages.length - 1] ?? { name: undefined, image: "", instructions: [] }
  const checks = runtime.instructions.filter((i) => i.keyword === "HEALTHCHECK")
  expect(checks.length, "one HEALTHCHECK").toBe(1)
  const args = checks[0]?.args ?? ""
  const cmd = args.indexOf("CMD")
  expect(cmd, "HEALTHCHECK CMD").toBeGreaterThanOrEqual(0)
  const command = jsonArray(args.slice(cmd + 3).trim(), "HEALTHCHECK CMD")
  expect(command[0], "the health check runs node (the slim image has no curl)").toBe("node")
  const scriptPath = posix.resolve(workdirOf(runtime), command[1] ?? "")
  const copied = copies(runtime).find((c) =>
    c.from === undefined && posix.resolve(workdirOf(runtime), c.destination) === scriptPath
  )
  expect(copied, `the health check script ${scriptPath} is copied into the image`).toBeDefined()
  const source = copied?.sources[0] ?? ""
  expect(existsSync(join(repoRoot, source)), `${source} exists`).toBe(true)
  expect(read(source), `${source} asks /readyz`).toContain("/readyz")
  expect(args, "the start period leaves a node time to pull its ranges").toMatch(/--start-period=\d+[sm]/)
}

const checkDockerignore = (dockerfile: string, dockerignore: string) => {
  const patterns = dockerignore.split("\n").map((l) => l.trim()).filter((l) => l !== "" && !l.startsWith("#"))
  for (const required of ["node_modules", "dist", ".reports", ".git"]) {
    expect(patterns, `.dockerignore excludes ${required}`).toContain(required)
  }
  const ignored = (path: string) => patterns.some((p) => {
    const pattern = new RegExp(`^${p.replace(/^\//, "").replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, "[^/]*")}(/|$)`)
    return !p.startsWith("!") && pattern.test(path)
  })
  for (const stage of dockerStages(dockerfile)) {
    for (const c of copies(stage)) {
      if (c.from !== undefined) continue
      for (const source of c.sources) {
        expect(existsSync(join(repoRoot, source)), `COPY ${source}: it exists`).toBe(true)
        expect(ignored(source), `COPY ${source}: .dockerignore keeps it in the build context`).toBe(false)
      }
    }
  }
}

// ---- the tests ------------------------------------------------------------------------

const compose = () => loadYaml("docker-compose.yml")
const collectorConfig = () => loadYaml("deploy/otel-collector.yaml")
const prometheusConfig = () => loadYaml("deploy/prometheus.yml")
const dockerfile = () => read("Dockerfile")

describe("docker-compose.yml", () => {
  it("parses, and defines cache1..cache3 from one shared definition", () => {
    expect(() => parse(read("docker-compose.yml"), { merge: true, prettyErrors: true, uniqueKeys: true })).not.toThrow()
    checkCacheNodes(compose())
  })

  it("gives every node PEERS that name the other nodes, never itself, on the port they listen on", () => {
    checkPeers(compose())
  })

  it("has each node known by its own service name (ADDR) while binding every interface", () => {
    checkAddresses(compose())
  })

  it("publishes and health-checks the ports the nodes listen on (LISTEN_ADDR, ADMIN_ADDR)", () => {
    checkNodePorts(compose())
  })

  it("sends OTLP to the collector service on the port its receiver takes for that protocol", () => {
    checkNodeTracing(compose(), collectorConfig())
  })

  it("has depends_on naming defined services, with valid conditions and no cycle", () => {
    checkDependsOn(compose())
  })

  it("gives each node a stop_grace_period above DRAIN_TIMEOUT + HANDOFF_TIMEOUT", () => {
    checkStopGrace(compose())
  })

  it("pins every pulled image and publishes the Jaeger UI", () => {
    checkImagesPinned(compose())
  })
})

describe("deploy/otel-collector.yaml and deploy/prometheus.yml", () => {
  it("defines every pipeline component and exports traces to Jaeger's OTLP port", () => {
    checkCollectorConfig(collectorConfig(), compose())
  })

  it("scrapes every node's admin port", () => {
    checkPrometheus(compose(), prometheusConfig())
  })
})

describe("deploy/k8s", () => {
  it("parses; the StatefulSet's serviceName is a headless Service, and every selector matches the pods", () => {
    checkK8sServices(loadK8s())
  })

  it("builds ADDR from the pod name and lists every pod of the StatefulSet in PEERS", () => {
    checkK8sPeers(loadK8s())
  })

  it("probes /readyz and /healthz on the ADMIN_ADDR port, with a grace period above drain + hand-off", () => {
    checkK8sProbes(loadK8s())
  })

  it("runs the placeholder image as non-root with resource requests and limits", () => {
    checkK8sPod(loadK8s())
  })

  it("has a README on how to apply it", () => {
    expect(read(`${K8S_DIR}/README.md`)).toContain(`kubectl apply -f ${K8S_DIR}/`)
  })
})

describe("Dockerfile", () => {
  it("builds in stages: full install and pnpm build, production install, slim runtime", () => {
    checkDockerStages(dockerfile())
  })

  it("runs node on dist/main.js in exec form as a non-root user, exposing 8080 and 9080", () => {
    checkDockerRuntime(dockerfile())
  })

  it("has a HEALTHCHECK that runs node on a script asking /readyz", () => {
    checkDockerHealthcheck(dockerfile())
  })

  it("sends the build what it copies, and not node_modules, dist, .reports or .git", () => {
    checkDockerignore(dockerfile(), read(".dockerignore"))
  })
})

// ---- each check fails on a broken file ---------------------------------------------------

const clone = <A>(value: A): A => structuredClone(value)
const service = (doc: unknown, name: string): Mapping => mapping(mapping(mapping(doc, "compose").services, "services")[name], name)
const setEnv = (doc: unknown, name: string, key: string, value: string) => {
  mapping(service(doc, name).environment, "environment")[key] = value
}
const k8sContainer = (docs: ReadonlyArray<Mapping>): Mapping => statefulSetOf(docs).container
const k8sEnv = (docs: ReadonlyArray<Mapping>, key: string): Mapping => {
  const entry = list(k8sContainer(docs).env, "env").map((e) => mapping(e, "env")).find((e) => e.name === key)
  return mapping(entry, key)
}

describe("the checks catch broken files", () => {
  const composeCases: ReadonlyArray<readonly [string, (doc: unknown) => void, (doc: unknown) => void]> = [
    ["a node that lists itself in PEERS", (d) => setEnv(d, "cache1", "PEERS", "cache1,cache2,cache3"), checkPeers],
    ["a PEERS entry naming no service", (d) => setEnv(d, "cache2", "PEERS", "cache1,cache4"), checkPeers],
    ["PEERS missing a node", (d) => setEnv(d, "cache3", "PEERS", "cache1"), checkPeers],
    ["PEERS on a port nobody listens on", (d) => setEnv(d, "cache1", "PEERS", "cache2:9000,cache3"), checkPeers],
    ["ADDR naming another node", (d) => setEnv(d, "cache2", "ADDR", "cache1:8080"), checkAddresses],
    ["LISTEN_ADDR on loopback", (d) => setEnv(d, "cache3", "LISTEN_ADDR", "127.0.0.1:8080"), checkAddresses],
    ["ADMIN_ADDR off a published port", (d) => setEnv(d, "cache1", "ADMIN_ADDR", "0.0.0.0:9999"), checkNodePorts],
    ["a healthcheck on /healthz", (d) => {
      const hc = mapping(service(d, "cache2").healthcheck, "healthcheck")
      hc.test = ["CMD", "node", "-e", "fetch('http://127.0.0.1:9080/healthz')"]
    }, checkNodePorts],
    ["cache1 not publishing the admin port", (d) => {
      service(d, "cache1").ports = ["8080:8080"]
    }, checkNodePorts],
    ["OTLP/HTTP sent to the gRPC port", (d) => setEnv(d, "cache1", "OTEL_EXPORTER_OTLP_ENDPOINT", "http://otel-collector:4317"), (d) =>
      checkNodeTracing(d, collectorConfig())],
    ["OTLP to a service that does not exist", (d) => setEnv(d, "cache2", "OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"), (
      d
    ) => checkNodeTracing(d, collectorConfig())],
    ["OTLP/gRPC to the HTTP port", (d) => setEnv(d, "cache3", "OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"), (d) =>
      checkNodeTracing(d, collectorConfig())],
    ["the collector config mounted elsewhere", (d) => {
      service(d, "otel-collector").volumes = ["./deploy/otel-collector.yaml:/etc/otel/config.yaml:ro"]
    }, (d) => checkNodeTracing(d, collectorConfig())],
    ["depends_on an unknown service", (d) => {
      service(d, "cache1").depends_on = { collector: { condition: "service_started" } }
    }, checkDependsOn],
    ["service_healthy on a service without a healthcheck", (d) => {
      service(d, "otel-collector").depends_on = { jaeger: { condition: "service_healthy" } }
    }, checkDependsOn],
    ["a dependency cycle", (d) => {
      service(d, "jaeger").depends_on = ["otel-collector"]
    }, checkDependsOn],
    ["the default 10 s stop grace period", (d) => {
      delete service(d, "cache2").stop_grace_period
    }, checkStopGrace],
    ["a grace period shorter than a longer hand-off", (d) => setEnv(d, "cache1", "HANDOFF_TIMEOUT", "2m"), checkStopGrace],
    ["an unpinned image", (d) => {
      service(d, "jaeger").image = "jaegertracing/all-in-one:latest"
    }, checkImagesPinned],
    ["the collector exporting to a service that does not exist", (d) => {
      delete mapping(mapping(d, "compose").services, "services").jaeger
    }, (d) => checkCollectorConfig(collectorConfig(), d)],
    ["Jaeger's OTLP gRPC receiver moved", (d) => {
      service(d, "jaeger").image = "jaegertracing/all-in-one:1.76.0"
      service(d, "jaeger").environment = { COLLECTOR_OTLP_GRPC_HOST_PORT: ":14317" }
    }, (d) => checkCollectorConfig(collectorConfig(), d)],
    ["a scrape target off the admin port", (d) =>
      setEnv(d, "cache2", "ADMIN_ADDR", "0.0.0.0:9180"), (d) => checkPrometheus(d, prometheusConfig())]
  ]
  for (const [what, damage, check] of composeCases) {
    it(`compose: ${what}`, () => {
      check(compose())
      const broken = clone(compose())
      damage(broken)
      expect(() => check(broken)).toThrow()
    })
  }

  const collectorCases: ReadonlyArray<readonly [string, (config: Mapping) => void]> = [
    ["a pipeline naming an undefined processor", (c) => {
      mapping(mapping(mapping(c.service, "service").pipelines, "pipelines").traces, "traces").processors = ["batch", "filter"]
    }],
    ["a pipeline naming an undefined exporter", (c) => {
      delete mapping(c.exporters, "exporters")["otlp_grpc/jaeger"]
    }],
    ["an exporter to the wrong port", (c) => {
      mapping(mapping(c.exporters, "exporters")["otlp_grpc/jaeger"], "exporter").endpoint = "jaeger:4318"
    }],
    ["an exporter that tries TLS against plain Jaeger", (c) => {
      delete mapping(mapping(c.exporters, "exporters")["otlp_grpc/jaeger"], "exporter").tls
    }],
    ["an undefined extension", (c) => {
      mapping(c.service, "service").extensions = ["health_check", "pprof"]
    }]
  ]
  for (const [what, damage] of collectorCases) {
    it(`collector: ${what}`, () => {
      checkCollectorConfig(collectorConfig(), compose())
      const broken = clone(mapping(collectorConfig(), "collector config"))
      damage(broken)
      expect(() => checkCollectorConfig(broken, compose())).toThrow()
    })
  }

  it("collector: a receiver bound to localhost", () => {
    const broken = clone(mapping(collectorConfig(), "collector config"))
    const protocols = mapping(mapping(mapping(broken.receivers, "receivers").otlp, "otlp").protocols, "protocols")
    mapping(protocols.http, "http").endpoint = "localhost:4318"
    expect(() => checkNodeTracing(compose(), broken)).toThrow()
  })

  it("prometheus: a node left unscraped", () => {
    const broken = clone(mapping(prometheusConfig(), "prometheus config"))
    const job = mapping(list(broken.scrape_configs, "jobs")[0], "job")
    mapping(list(job.static_configs, "static")[0], "static").targets = ["cache1:9080", "cache2:9080"]
    expect(() => checkPrometheus(compose(), broken)).toThrow()
  })

  const k8sCases: ReadonlyArray<readonly [string, (docs: Array<Mapping>) => void, (docs: ReadonlyArray<Mapping>) => void]> = [
    ["serviceName naming a Service with a cluster IP", (docs) => {
      mapping(statefulSetOf(docs).spec, "spec").serviceName = "quorum-cache"
    }, checkK8sServices],
    ["a headless Service hiding pods that are not ready", (docs) => {
      const headless = ofKind(docs, "Service").find((s) => mapping(s.spec, "spec").clusterIP === "None")
      mapping(headless?.spec, "spec").publishNotReadyAddresses = false
    }, checkK8sServices],
    ["a Service selecting other pods", (docs) => {
      mapping(ofKind(docs, "Service")[1]?.spec, "spec").selector = { app: "something-else" }
    }, checkK8sServices],
    ["a PDB allowing two pods down", (docs) => {
      mapping(ofKind(docs, "PodDisruptionBudget")[0]?.spec, "spec").maxUnavailable = 2
    }, checkK8sServices],
    ["a PEERS entry for a pod that does not exist", (docs) => {
      const peers = k8sEnv(docs, "PEERS")
      peers.value = String(peers.value).replace("quorum-cache-2.", "quorum-cache-3.")
    }, checkK8sPeers],
    ["PEERS through another service", (docs) => {
      const peers = k8sEnv(docs, "PEERS")
      peers.value = String(peers.value).replaceAll("quorum-cache-headless", "quorum-cache")
    }, checkK8sPeers],
    ["ADDR without the namespace expanded", (docs) => {
      const env = list(k8sContainer(docs).env, "env") as Array<unknown>
      const index = env.findIndex((e) => mapping(e, "env").name === "POD_NAMESPACE")
      const [namespace] = env.splice(index, 1)
      env.push(namespace)
    }, checkK8sPeers],
    ["ADDR on another port than LISTEN_ADDR", (docs) => {
      const addr = k8sEnv(docs, "ADDR")
      addr.value = String(addr.value).replace(/:8080$/, ":8081")
    }, checkK8sPeers],
    ["readiness on /healthz", (docs) => {
      mapping(mapping(k8sContainer(docs).readinessProbe, "probe").httpGet, "httpGet").path = "/healthz"
    }, checkK8sProbes],
    ["readiness on the gRPC port", (docs) => {
      mapping(mapping(k8sContainer(docs).readinessProbe, "probe").httpGet, "httpGet").port = "grpc"
    }, checkK8sProbes],
    ["the default 30 s grace period", (docs) => {
      delete statefulSetOf(docs).pod.terminationGracePeriodSeconds
    }, checkK8sProbes],
    ["a hand-off longer than the grace period", (docs) => {
      const configMap = ofKind(docs, "ConfigMap")[0]
      mapping(configMap?.data, "data").HANDOFF_TIMEOUT = "5m"
    }, checkK8sProbes],
    ["a pod that may run as root", (docs) => {
      mapping(statefulSetOf(docs).pod.securityContext, "securityContext").runAsNonRoot = false
    }, checkK8sPod],
    ["no memory limit", (docs) => {
      delete mapping(mapping(k8sContainer(docs).resources, "resources").limits, "limits").memory
    }, checkK8sPod]
  ]
  for (const [what, damage, check] of k8sCases) {
    it(`k8s: ${what}`, () => {
      check(loadK8s())
      const broken = clone([...loadK8s()])
      damage(broken)
      expect(() => check(broken)).toThrow()
    })
  }

  const dockerCases: ReadonlyArray<readonly [string, string | RegExp, string, (dockerfile: string) => void]> = [
    ["one stage", /FROM \$\{NODE_IMAGE\} AS (deps|build)\n/g, "", checkDockerStages],
    ["node_modules with dev dependencies", "--from=deps /app/node_modules", "--from=build /app/node_modules", checkDockerStages],
    ["an install without pnpm-workspace.yaml", "pnpm-lock.yaml pnpm-workspace.yaml ./", "pnpm-lock.yaml ./", checkDockerStages],
    ["a full runtime image", /FROM \$\{NODE_IMAGE\} AS runtime/, "FROM node:20 AS runtime", checkDockerStages],
    ["running as root", "USER 1000:1000", "USER root", checkDockerRuntime],
    ["a shell-form ENTRYPOINT", `ENTRYPOINT ["node", "dist/main.js"]`, "ENTRYPOINT node dist/main.js", checkDockerRuntime],
    ["an ENTRYPOINT on tsx", `ENTRYPOINT ["node", "dist/main.js"]`, `ENTRYPOINT ["node", "--import", "tsx", "src/main.ts"]`,
      checkDockerRuntime],
    ["the admin port not exposed", "EXPOSE 8080 9080", "EXPOSE 8080", checkDockerRuntime],
    ["dist without package.json (CommonJS)", "COPY package.json ./\n", "", checkDockerRuntime],
    ["no HEALTHCHECK", /HEALTHCHECK[^\n]*\\\n[^\n]*\n/, "", checkDockerHealthcheck],
    ["a HEALTHCHECK on a script not in the image", `"/app/healthcheck.mjs"`, `"/app/health.mjs"`, checkDockerHealthcheck],
    ["copying a file that is not there", "COPY tsconfig.json", "COPY tsconfig.base.json", (d) =>
      checkDockerignore(d, read(".dockerignore"))]
  ]
  for (const [what, from, to, check] of dockerCases) {
    it(`Dockerfile: ${what}`, () => {
      check(dockerfile())
      const broken = dockerfile().replace(from, to)
      expect(broken, "the damage applies").not.toBe(dockerfile())
      expect(() => check(broken)).toThrow()
    })
  }

  it(".dockerignore: node_modules sent to the build, or src left out", () => {
    const ignore = read(".dockerignore")
    checkDockerignore(dockerfile(), ignore)
    expect(() => checkDockerignore(dockerfile(), ignore.replace(/^node_modules$/m, ""))).toThrow()
    expect(() => checkDockerignore(dockerfile(), `${ignore}\nsrc\n`)).toThrow()
  })
})

// ---- the image's health check script, run for real ----------------------------------------

interface Probe {
  readonly server: Server
  readonly port: number
  readonly paths: Array<string>
}

const startAdmin = async (status: number): Promise<Probe> => {
  const paths: Array<string> = []
  const server = createServer((request, response) => {
    paths.push(request.url ?? "")
    response.writeHead(request.url === "/readyz" ? status : 404).end()
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  return { server, port: (server.address() as AddressInfo).port, paths }
}

const stop = (server: Server) => new Promise<void>((resolve) => server.close(() => resolve()))

const runHealthcheck = (env: Record<string, string>) =>
  new Promise<number>((resolve) => {
    execFile(process.execPath, [join(repoRoot, "deploy/healthcheck.mjs")], { env: { PATH: process.env.PATH ?? "", ...env }, timeout: 10_000 }, (
      error
    ) => resolve(error === null ? 0 : typeof error.code === "number" ? error.code : -1))
  })

describe("deploy/healthcheck.mjs (the image's HEALTHCHECK)", () => {
  it("passes when /readyz answers 200 on ADMIN_ADDR, and asks nothing else", async () => {
    const admin = await startAdmin(200)
    try {
      expect(await runHealthcheck({ ADMIN_ADDR: `127.0.0.1:${admin.port}` })).toBe(0)
      expect(admin.paths).toEqual(["/readyz"])
    } finally {
      await stop(admin.server)
    }
  })

  it("fails while the node is not ready (503) and when nothing answers", async () => {
    const admin = await startAdmin(503)
    try {
      expect(await runHealthcheck({ ADMIN_ADDR: `127.0.0.1:${admin.port}` })).toBe(1)
    } finally {
      await stop(admin.server)
    }
    expect(await runHealthcheck({ ADMIN_ADDR: `127.0.0.1:${admin.port}` })).toBe(1)
  })

  it("finds the admin port as the node does: LISTEN_ADDR's port + 1000, a wildcard bind dialled on loopback", async () => {
    const admin = await startAdmin(200)
    try {
      expect(await runHealthcheck({ LISTEN_ADDR: `0.0.0.0:${admin.port - 1000}`, ADDR: "elsewhere:1" })).toBe(0)
      expect(await runHealthcheck({ ADDR: `127.0.0.1:${admin.port - 1000}` })).toBe(0)
      expect(await runHealthcheck({ ADMIN_ADDR: `0.0.0.0:${admin.port}` })).toBe(0)
      expect(await runHealthcheck({ LISTEN_ADDR: `0.0.0.0:${admin.port}` })).toBe(1)
      expect(admin.paths).toEqual(["/readyz", "/readyz", "/readyz"])
    } finally {
      await stop(admin.server)
    }
  })
})
