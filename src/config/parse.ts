/**
 * Pure parsers for setting values. Each returns the parsed value or a message
 * that says what is wrong; NodeConfig prefixes the variable name.
 */
import { BlockList, isIP } from "node:net"

export type Parsed<A> = { readonly ok: true; readonly value: A } | { readonly ok: false; readonly error: string }

const ok = <A>(value: A): Parsed<A> => ({ ok: true, value })
const fail = (error: string): Parsed<never> => ({ ok: false, error })

/** A host and port, as given in `ADDR` and `PEERS`. */
export interface HostPort {
  readonly host: string
  readonly port: number
}

export const formatHostPort = ({ host, port }: HostPort): string =>
  host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`

const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?$/
const IPV6 = /^[0-9A-Fa-f:.]+$/

const parsePort = (text: string, minPort: number): Parsed<number> => {
  if (!/^\d{1,5}$/.test(text)) return fail(`port "${text}" is not a number`)
  const port = Number(text)
  return port >= minPort && port <= 65535 ? ok(port) : fail(`port ${port} is outside ${minPort}-65535`)
}

/**
 * Parses `host:port`, `[ipv6]:port`, or (when `defaultPort` is given) a bare
 * host. Hostnames follow RFC 1123 (underscores allowed, as Docker names use them).
 * `minPort` 0 admits port 0 (any free port), for listeners nobody dials by a fixed address.
 */
export const parseHostPort = (raw: string, defaultPort?: number, minPort = 1): Parsed<HostPort> => {
  const text = raw.trim()
  if (text === "") return fail("is empty; expected host:port")
  let host: string
  let portText: string | undefined
  if (text.startsWith("[")) {
    const close = text.indexOf("]")
    if (close < 0) return fail(`"${text}" has an unclosed [ for an IPv6 address`)
    host = text.slice(1, close)
    const rest = text.slice(close + 1)
    if (rest !== "" && !rest.startsWith(":")) return fail(`"${text}" is not host:port`)
    portText = rest === "" ? undefined : rest.slice(1)
    if (!IPV6.test(host)) return fail(`"${host}" is not an IPv6 address`)
  } else {
    const colon = text.lastIndexOf(":")
    if (colon >= 0 && text.indexOf(":") !== colon) return fail(`"${text}": write IPv6 addresses as [address]:port`)
    host = colon >= 0 ? text.slice(0, colon) : text
    portText = colon >= 0 ? text.slice(colon + 1) : undefined
    if (!HOSTNAME.test(host)) return fail(`"${host}" is not a valid host name or IPv4 address`)
  }
  if (portText === undefined) {
    return defaultPort === undefined ? fail(`"${text}" has no port; expected host:port`) : ok({ host, port: defaultPort })
  }
  const port = parsePort(portText, minPort)
  return port.ok ? ok({ host, port: port.value }) : fail(`"${text}": ${port.error}`)
}

/** Parses a comma-separated list of `host` or `host:port`; empty items are skipped. */
export const parsePeerList = (raw: string, defaultPort: number): Parsed<ReadonlyArray<HostPort>> => {
  const peers: Array<HostPort> = []
  for (const item of raw.split(",")) {
    if (item.trim() === "") continue
    const peer = parseHostPort(item, defaultPort)
    if (!peer.ok) return fail(`entry ${peer.error}`)
    peers.push(peer.value)
  }
  return ok(peers)
}

const DURATION = /^(\d+(?:\.\d+)?|\.\d+)\s*(ms|s|m|h)?$/
const DURATION_UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 } as const

/**
 * Parses a duration in seconds (`5`, `0.5`) or with a unit (`500ms`, `5s`,
 * `2m`, `1h`) into milliseconds.
 */
export const parseDurationMs = (raw: string): Parsed<number> => {
  const match = DURATION.exec(raw.trim())
  if (match === null) return fail(`"${raw}" is not a duration; use seconds (5, 0.5) or a unit (500ms, 5s, 2m, 1h)`)
  const unit = (match[2] ?? "s") as keyof typeof DURATION_UNIT_MS
  const ms = Number(match[1]) * DURATION_UNIT_MS[unit]
  return Number.isFinite(ms) ? ok(ms) : fail(`"${raw}" is too large`)
}

const BYTES = /^(\d+)\s*(B|KiB|MiB|GiB|K|M|G)?$/i
const BYTE_UNITS: Record<string, number> = { b: 1, k: 1024, kib: 1024, m: 1024 ** 2, mib: 1024 ** 2, g: 1024 ** 3, gib: 1024 ** 3 }

/** Parses a byte count: `4194304`, or with a binary unit (`64KiB`, `4MiB`, `1GiB`; K/M/G mean the same). */
export const parseBytes = (raw: string): Parsed<number> => {
  const match = BYTES.exec(raw.trim())
  if (match === null) return fail(`"${raw}" is not a byte count; use an integer, optionally with KiB, MiB or GiB`)
  const bytes = Number(match[1]) * (BYTE_UNITS[(match[2] ?? "b").toLowerCase()] ?? 1)
  return Number.isSafeInteger(bytes) ? ok(bytes) : fail(`"${raw}" is too large`)
}

/** Parses a whole number (no sign, no fraction, no exponent). */
export const parseInteger = (raw: string): Parsed<number> => {
  const text = raw.trim()
  if (!/^\d+$/.test(text)) return fail(`"${raw}" is not a whole number`)
  const n = Number(text)
  return Number.isSafeInteger(n) ? ok(n) : fail(`"${raw}" is too large`)
}

/** Parses a non-negative decimal number. */
export const parseDecimal = (raw: string): Parsed<number> => {
  const text = raw.trim()
  if (!/^(\d+(\.\d+)?|\.\d+)$/.test(text)) return fail(`"${raw}" is not a non-negative number`)
  return ok(Number(text))
}

/** Parses one of a fixed set of words, case-insensitively. */
export const parseChoice = <const A extends string>(choices: ReadonlyArray<A>) =>
(raw: string): Parsed<A> => {
  const text = raw.trim().toLowerCase()
  const found = choices.find((choice) => choice === text)
  return found === undefined ? fail(`"${raw}" is not one of ${choices.join(", ")}`) : ok(found)
}

/** Parses `true` or `false` (also `1`/`0`, `yes`/`no`), case-insensitively. */
export const parseBoolean = (raw: string): Parsed<boolean> => {
  const text = raw.trim().toLowerCase()
  if (["true", "1", "yes"].includes(text)) return ok(true)
  if (["false", "0", "no"].includes(text)) return ok(false)
  return fail(`"${raw}" is not true or false`)
}

const LOOPBACK = new BlockList()
LOOPBACK.addSubnet("127.0.0.0", 8, "ipv4")
LOOPBACK.addAddress("::1", "ipv6")

/**
 * Whether a listener on `host` is reachable from this machine only:
 * 127.0.0.0/8, ::1 (in any spelling, IPv4-mapped too) or `localhost`. The
 * wildcards `0.0.0.0` and `::`, and every other name, are not.
 */
export const isLoopbackHost = (host: string): boolean => {
  const name = host.toLowerCase().replace(/\.$/, "")
  if (name === "localhost") return true
  const family = isIP(name)
  return family !== 0 && LOOPBACK.check(name, family === 6 ? "ipv6" : "ipv4")
}

/** Requires a parsed number to be at least `min`. */
export const atLeast = (min: number, parse: (raw: string) => Parsed<number>) => (raw: string): Parsed<number> => {
  const n = parse(raw)
  if (!n.ok) return n
  return n.value >= min ? n : fail(`${raw.trim()} is below the minimum of ${min}`)
}

/** Requires a parsed number to be at most `max`. */
export const atMost = (max: number, parse: (raw: string) => Parsed<number>) => (raw: string): Parsed<number> => {
  const n = parse(raw)
  if (!n.ok) return n
  return n.value <= max ? n : fail(`${raw.trim()} is above the maximum of ${max}`)
}

/** Where the admin HTTP server listens: the default (next to the gRPC port), nowhere, or an address. */
export type AdminAddr =
  | { readonly _tag: "Default" }
  | { readonly _tag: "Off" }
  | { readonly _tag: "At"; readonly addr: HostPort }

/** Parses `ADMIN_ADDR`: `off`, or `host:port` (port 0: any free port, logged at start-up). */
export const parseAdminAddr = (raw: string): Parsed<AdminAddr> => {
  if (raw.trim().toLowerCase() === "off") return ok({ _tag: "Off" })
  const addr = parseHostPort(raw, undefined, 0)
  return addr.ok ? ok({ _tag: "At", addr: addr.value }) : addr
}
