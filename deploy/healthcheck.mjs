// The container's HEALTHCHECK (the slim image has no curl): exits 0 when the
// node's admin server answers GET /readyz with 200 (joined, holds its ranges),
// 1 otherwise (not ready yet, leaving, not answering).
//
// It finds the admin server the way the node does: ADMIN_ADDR, else the host
// of LISTEN_ADDR (else ADDR, else localhost:8080) with the port + 1000. A
// wildcard bind address (0.0.0.0, ::) is dialled on loopback. With
// ADMIN_ADDR=off there is nothing to ask, so it reports healthy.
const ADMIN_PORT_OFFSET = 1000
const TIMEOUT_MS = 2000

const splitHostPort = (text) => {
  const value = text.trim()
  if (value.startsWith("[")) {
    const close = value.indexOf("]")
    return { host: value.slice(1, close), port: Number(value.slice(close + 2)) }
  }
  const colon = value.lastIndexOf(":")
  return { host: value.slice(0, colon), port: Number(value.slice(colon + 1)) }
}

const env = (name) => {
  const value = process.env[name]?.trim()
  return value === undefined || value === "" ? undefined : value
}

const adminAddress = () => {
  const admin = env("ADMIN_ADDR")
  if (admin?.toLowerCase() === "off") return undefined
  if (admin !== undefined) return splitHostPort(admin)
  const listen = splitHostPort(env("LISTEN_ADDR") ?? env("ADDR") ?? "localhost:8080")
  return { host: listen.host, port: listen.port + ADMIN_PORT_OFFSET }
}

const dialHost = (host) => {
  if (host === "" || host === "0.0.0.0") return "127.0.0.1"
  if (host === "::" || host === "::0") return "[::1]"
  return host.includes(":") ? `[${host}]` : host
}

const admin = adminAddress()
if (admin === undefined) {
  console.log("ADMIN_ADDR=off: no admin server to ask; reporting healthy")
  process.exit(0)
}
const url = `http://${dialHost(admin.host)}:${admin.port}/readyz`
try {
  const response = await fetch(url, { signal: AbortSignal.timeout(TIMEOUT_MS) })
  console.log(`${url}: ${response.status}`)
  process.exit(response.status === 200 ? 0 : 1)
} catch (error) {
  console.log(`${url}: ${error instanceof Error ? error.message : String(error)}`)
  process.exit(1)
}
