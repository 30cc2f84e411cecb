/**
 * Checks on docker-compose.yml's own services: the cache nodes' shared
 * definition, PEERS, addresses, ports, start order, grace period and images.
 * Each takes the parsed file, so the tests can also feed it a damaged copy.
 */
import { expect } from "vitest"
import { isLoopbackHost, parsePeerList } from "../../src/config/parse.js"
import {
  addressesOf,
  cacheNodesOf,
  composeDurationMs,
  dependenciesOf,
  envOf,
  healthcheckUrl,
  portsOf,
  servicesOf
} from "./composeFile.js"
import { isMapping, list, type Mapping, mapping, text } from "./files.js"
import { DEFAULT_PEER_PORT, nodeConfigError, SAMPLE_SECRET, shutdownBudgetMs } from "./nodeConfig.js"

export const checkCacheNodes = (compose: unknown) => {
  const nodes = cacheNodesOf(compose)
  expect(Object.keys(nodes).sort()).toEqual(["cache1", "cache2", "cache3"])
  // One definition shared through the x-cache-node anchor: same build, checks and grace period.
  const shared = (service: Mapping) => JSON.stringify([service.build, service.healthcheck, service.stop_grace_period, service.depends_on])
  const first = shared(nodes.cache1 ?? {})
  for (const [name, service] of Object.entries(nodes)) expect(shared(service), `${name} shares the node definition`).toBe(first)
}

export const checkPeers = (compose: unknown) => {
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
    // The first ring is agreed by every seed: all nodes must name the same ones (each the others, itself by ADDR).
    expect([...hosts, name].sort(), `${name}: PEERS names every other node`).toEqual(Object.keys(nodes).sort())
  }
}

export const checkAddresses = (compose: unknown) => {
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

export const checkNodePorts = (compose: unknown) => {
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

export const checkDependsOn = (compose: unknown) => {
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

export const checkStopGrace = (compose: unknown) => {
  for (const [name, service] of Object.entries(cacheNodesOf(compose))) {
    // Compose's default is 10 s: far too short for a hand-off.
    expect(service.stop_grace_period, `${name} sets stop_grace_period`).toBeDefined()
    const grace = composeDurationMs(service.stop_grace_period, `${name} stop_grace_period`)
    expect(grace, `${name}: stop_grace_period covers drain + hand-off + margin`)
      .toBeGreaterThanOrEqual(shutdownBudgetMs(envOf(service), name))
  }
}

export const checkImagesPinned = (compose: unknown) => {
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

/** `${NAME:?message}`: Compose stops with the message when NAME is unset or empty in the shell that runs it. */
const REQUIRED_VARIABLE = /^\$\{(\w+):\?[^}]+\}$/

/**
 * Every node authenticates its peers, by mutual TLS or by a CLUSTER_SECRET
 * that compose takes from the environment and requires (never a value written
 * in the file), and the node itself accepts the result; without the secret
 * it would refuse to start (it listens beyond loopback).
 */
export const checkPeerAuthentication = (compose: unknown) => {
  for (const [name, service] of Object.entries(cacheNodesOf(compose))) {
    const env = envOf(service)
    expect(env.INSECURE_CLUSTER?.toLowerCase() ?? "false", `${name}: INSECURE_CLUSTER is not on`).not.toMatch(/^(true|1|yes)$/)
    const mutualTls = ["PEER_TLS_CA_FILE", "PEER_TLS_CERT_FILE", "PEER_TLS_KEY_FILE"].every((k) => env[k] !== undefined)
    if (!mutualTls) {
      const secret = env.CLUSTER_SECRET
      expect(secret, `${name}: CLUSTER_SECRET or PEER_TLS_* is set`).toBeDefined()
      const required = REQUIRED_VARIABLE.exec(secret ?? "")
      expect(required, `${name}: CLUSTER_SECRET is \${VAR:?message} (required from the environment), not ${secret}`).not.toBeNull()
    }
    const deployed = mutualTls ? env : { ...env, CLUSTER_SECRET: SAMPLE_SECRET }
    expect(nodeConfigError(deployed), `${name}: the node accepts its settings`).toBeUndefined()
    expect(nodeConfigError({ ...env, CLUSTER_SECRET: undefined, PEER_TLS_CA_FILE: undefined }), `${name}: without peer authentication it would refuse`)
      .toContain("CLUSTER_SECRET")
  }
}

/**
 * A node whose admin server binds beyond loopback refuses to start without a
 * token: each gets ADMIN_TOKEN as `${ADMIN_TOKEN:?message}` (required from
 * the environment, never written in the file), and the node accepts the
 * result and would refuse without it.
 */
export const checkAdminToken = (compose: unknown) => {
  for (const [name, service] of Object.entries(cacheNodesOf(compose))) {
    const { admin } = addressesOf(name, service)
    if (isLoopbackHost(admin.host)) continue
    const env = envOf(service)
    expect(REQUIRED_VARIABLE.exec(env.ADMIN_TOKEN ?? "")?.[1], `${name}: the admin server binds ${admin.host}, so ADMIN_TOKEN is \${ADMIN_TOKEN:?...}`)
      .toBe("ADMIN_TOKEN")
    const deployed = { ...env, CLUSTER_SECRET: SAMPLE_SECRET, ADMIN_TOKEN: SAMPLE_SECRET }
    expect(nodeConfigError(deployed), `${name}: the node accepts its settings`).toBeUndefined()
    expect(nodeConfigError({ ...deployed, ADMIN_TOKEN: undefined }), `${name}: without ADMIN_TOKEN it would refuse`).toMatch(/^ADMIN_TOKEN: /)
  }
}

/** Prometheus scrapes /metrics, which asks for the token: each job sends it from a secret made of ADMIN_TOKEN. */
export const checkPrometheusToken = (compose: unknown, prometheusConfig: unknown) => {
  const prometheus = servicesOf(compose).prometheus ?? {}
  const secrets = isMapping(compose) && compose.secrets !== undefined ? mapping(compose.secrets, "secrets") : {}
  const fromToken = Object.keys(secrets).filter((name) => mapping(secrets[name], `secret ${name}`).environment === "ADMIN_TOKEN")
  const mounted = (prometheus.secrets === undefined ? [] : list(prometheus.secrets, "prometheus secrets")).map((entry) => {
    const secret = isMapping(entry) ? { source: String(entry.source), target: entry.target } : { source: String(entry), target: undefined }
    const target = secret.target === undefined ? secret.source : String(secret.target)
    return { source: secret.source, path: target.startsWith("/") ? target : `/run/secrets/${target}` }
  })
  for (const job of list(mapping(prometheusConfig, "prometheus config").scrape_configs, "scrape_configs")) {
    const j = mapping(job, "scrape job")
    const auth = mapping(j.authorization, `job ${String(j.job_name)}: authorization (/metrics asks for the admin token)`)
    expect(auth.type ?? "Bearer", `job ${String(j.job_name)}: a bearer token`).toBe("Bearer")
    const file = text(auth.credentials_file, `job ${String(j.job_name)}: credentials_file`)
    const secret = mounted.find((m) => m.path === file)
    expect(secret, `job ${String(j.job_name)}: ${file} is a secret mounted into the prometheus service`).toBeDefined()
    expect(fromToken, `job ${String(j.job_name)}: the secret at ${file} is made of ADMIN_TOKEN`).toContain(secret?.source)
  }
}
