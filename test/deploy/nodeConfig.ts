/**
 * The node's configuration as the node itself reads it (its own parsers and
 * defaults), so the deployment files are checked against what the node would
 * make of them.
 */
import { ConfigProvider, Effect, Either } from "effect"
import { expect } from "vitest"
import { describeConfigError, NodeConfig } from "../../src/config/NodeConfig.js"
import { type HostPort, parseDurationMs, parseHostPort } from "../../src/config/parse.js"

/** README: a PEERS entry without a port means 8080; DRAIN_TIMEOUT 10 s and HANDOFF_TIMEOUT 30 s by default. */
export const DEFAULT_PEER_PORT = 8080
export const DEFAULT_DRAIN_MS = 10_000
export const DEFAULT_HANDOFF_MS = 30_000
/** After the hand-off the node still announces its leave and flushes its last spans. */
export const SHUTDOWN_MARGIN_MS = 10_000

export const hostPort = (raw: string, what: string): HostPort => {
  const parsed = parseHostPort(raw)
  if (!parsed.ok) expect.fail(`${what} "${raw}": ${parsed.error}`)
  return parsed.value
}

export const durationMs = (raw: string, what: string): number => {
  const parsed = parseDurationMs(raw)
  if (!parsed.ok) expect.fail(`${what}: ${parsed.error}`)
  return parsed.value
}

export interface NodeAddresses {
  readonly addr: HostPort
  readonly listen: HostPort
  readonly admin: HostPort
}

/** ADDR, LISTEN_ADDR (default ADDR) and ADMIN_ADDR (default LISTEN_ADDR's port + 1000), as the node reads them. */
export const nodeAddresses = (name: string, env: Record<string, string | undefined>): NodeAddresses => {
  const addr = hostPort(env.ADDR ?? "localhost:8080", `${name} ADDR`)
  const listen = env.LISTEN_ADDR === undefined ? addr : hostPort(env.LISTEN_ADDR, `${name} LISTEN_ADDR`)
  expect(env.ADMIN_ADDR?.toLowerCase(), `${name}: the admin server is on (health checks and metrics need it)`).not.toBe("off")
  const admin = env.ADMIN_ADDR === undefined
    ? { host: listen.host, port: listen.port + 1000 }
    : hostPort(env.ADMIN_ADDR, `${name} ADMIN_ADDR`)
  return { addr, listen, admin }
}

export const shutdownBudgetMs = (env: Record<string, string | undefined>, what: string): number =>
  (env.DRAIN_TIMEOUT === undefined ? DEFAULT_DRAIN_MS : durationMs(env.DRAIN_TIMEOUT, `${what} DRAIN_TIMEOUT`)) +
  (env.HANDOFF_TIMEOUT === undefined ? DEFAULT_HANDOFF_MS : durationMs(env.HANDOFF_TIMEOUT, `${what} HANDOFF_TIMEOUT`)) +
  SHUTDOWN_MARGIN_MS

/** Why the node would refuse to start with this environment (its own NodeConfig), or undefined when it would start. */
export const nodeConfigError = (env: Record<string, string | undefined>): string | undefined => {
  const defined = Object.entries(env).filter((entry): entry is [string, string] => entry[1] !== undefined)
  const result = Effect.runSync(
    NodeConfig.pipe(
      Effect.provide(NodeConfig.layerFromEnv),
      Effect.withConfigProvider(ConfigProvider.fromMap(new Map(defined))),
      Effect.either
    )
  )
  return Either.isLeft(result) ? describeConfigError(result.left) : undefined
}

/** A value that stands for a secret supplied at deploy time (32 bytes). */
export const SAMPLE_SECRET = "0123456789abcdef0123456789abcdef"
