/**
 * Reading docker-compose.yml: its services, and each service's environment,
 * ports, mounts, health check and dependencies in whichever of Compose's
 * forms the file uses.
 */
import { posix } from "node:path"
import { expect } from "vitest"
import { isMapping, list, type Mapping, mapping } from "./files.js"
import { type NodeAddresses, nodeAddresses } from "./nodeConfig.js"

export const servicesOf = (compose: unknown): Record<string, Mapping> => {
  const services = mapping(mapping(compose, "the compose file").services, "services")
  return Object.fromEntries(Object.entries(services).map(([name, service]) => [name, mapping(service, `service ${name}`)]))
}

/** A service's environment, in either of Compose's two forms. */
export const envOf = (service: Mapping): Record<string, string> => {
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
export const cacheNodesOf = (compose: unknown): Record<string, Mapping> =>
  Object.fromEntries(Object.entries(servicesOf(compose)).filter(([, service]) => {
    const build = service.build
    const context = isMapping(build) ? build.context : build
    return context === "." || context === "./"
  }))

/** A cache node's addresses, read from its environment as the node reads them. */
export const addressesOf = (name: string, service: Mapping): NodeAddresses => nodeAddresses(name, envOf(service))

export interface PortMapping {
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

export const portsOf = (service: Mapping): ReadonlyArray<PortMapping> =>
  service.ports === undefined ? [] : list(service.ports, "ports").map(portMapping)

/** The URL a healthcheck's command fetches. */
export const healthcheckUrl = (name: string, service: Mapping): URL => {
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
export const mountedAt = (service: Mapping, repoPath: string): string | undefined =>
  mountsOf(service).find((m) => posix.normalize(m.source) === posix.normalize(`./${repoPath}`))?.target

export const dependenciesOf = (service: Mapping): Record<string, string> => {
  const deps = service.depends_on
  if (deps === undefined) return {}
  if (Array.isArray(deps)) return Object.fromEntries(deps.map((d) => [String(d), "service_started"]))
  return Object.fromEntries(Object.entries(mapping(deps, "depends_on")).map(([name, spec]) => [
    name,
    isMapping(spec) && spec.condition !== undefined ? String(spec.condition) : "service_started"
  ]))
}

/** Go durations as Compose writes them: `60s`, `1m30s`, `500ms`. */
export const composeDurationMs = (raw: unknown, what: string): number => {
  const value = String(raw).trim()
  const unitMs: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000, h: 3_600_000 }
  const parts = [...value.matchAll(/(\d+(?:\.\d+)?)(us|ms|s|m|h)/g)]
  expect(parts.length > 0 && parts.map((p) => p[0]).join("") === value, `${what} "${value}" is a duration`).toBe(true)
  return parts.reduce((ms, p) => ms + Number(p[1]) * (unitMs[p[2] ?? ""] ?? Number.NaN), 0)
}
