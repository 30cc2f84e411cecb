import fc from "fast-check"
import { ADMIN_RPC_PATH } from "../../../src/admin/AdminRpcs.js"
import type { FuzzContext } from "./messages.js"
import { describeMutations, mutate, mutations } from "./mutate.js"
import { fuzzString, preview } from "./primitives.js"
import { jsonLoopbackOnly } from "./safety.js"

/** One HTTP request to a node's admin server. */
export interface HttpCase {
  readonly kind: "http"
  readonly node: number
  /** What the report counts it under: `admin GET /metrics`, `admin POST /rpc Status`, ... */
  readonly label: string
  readonly method: string
  readonly path: string
  readonly contentType: string | undefined
  readonly body: Buffer | undefined
  readonly shape: string
}

/**
 * Procedures the fuzz calls with valid-shaped payloads. Not `Leave` (it
 * shuts the node down, as SIGTERM does: the admin API trusts its caller) and
 * `Remove` only of addresses that are not members, for the same reason: the
 * properties checked after each batch assume the three nodes stay members.
 */
const TAGS = ["Status", "Members", "Ring", "Owners", "Stats", "History", "Unavailable", "Remove"] as const

const payloadOf = (ctx: FuzzContext, tag: string): fc.Arbitrary<unknown> => {
  switch (tag) {
    case "Ring":
      return fc.oneof(fc.record({ ranges: fc.boolean() }), fc.record({ ranges: fc.jsonValue() }))
    case "Owners":
      return fc.oneof(fc.record({ key: fuzzString(ctx.limits) }), fc.record({ key: fc.jsonValue() }))
    case "Remove":
      return fc.record({ member: fc.oneof(fc.constantFrom(...ctx.spare, "", "no-port", "127.0.0.1:0"), fc.jsonValue()), force: fc.oneof(fc.boolean(), fc.jsonValue()) })
    default:
      return fc.oneof({ weight: 3, arbitrary: fc.constant({}) }, { weight: 1, arbitrary: fc.jsonValue() })
  }
}

const rpcMessage = (ctx: FuzzContext) =>
  fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...TAGS) }, { weight: 1, arbitrary: fc.constantFrom("Nope", "", "__proto__", "constructor") }).chain((tag) =>
    fc.record({
      _tag: fc.oneof({ weight: 8, arbitrary: fc.constant("Request") }, { weight: 1, arbitrary: fc.constantFrom("Ack", "Interrupt", "Eof", "Ping", "Exit", "") }),
      id: fc.oneof(fc.constant("1"), fc.constantFrom("0", "-1", "18446744073709551616", "1e400", "NaN", ""), fc.jsonValue()),
      tag: fc.constant(tag),
      payload: payloadOf(ctx, tag),
      headers: fc.oneof({ weight: 4, arbitrary: fc.constant([]) }, { weight: 1, arbitrary: fc.jsonValue() })
    })
  )

/** Valid-shaped admin RPC bodies: one request or a batch of them. */
const rpcBody = (ctx: FuzzContext) =>
  fc.oneof({ weight: 3, arbitrary: rpcMessage(ctx) }, { weight: 1, arbitrary: fc.array(rpcMessage(ctx), { minLength: 1, maxLength: 3 }) })

const CONTENT_TYPES = [
  "application/json",
  "application/json; charset=utf-8",
  "application/ndjson",
  "application/msgpack",
  "text/plain",
  "application/octet-stream",
  "application/x-www-form-urlencoded",
  "multipart/form-data; boundary=x"
]
const contentType = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...CONTENT_TYPES) },
  { weight: 1, arbitrary: fc.constant(undefined) },
  { weight: 1, arbitrary: fc.string({ unit: "grapheme-ascii", maxLength: 40 }).filter((t) => /^[\x20-\x7e]*$/.test(t)) }
)

/** A body of the JSON shape but broken: mutated bytes of a valid one, deep nesting, huge strings. */
const oddBody = (ctx: FuzzContext) =>
  fc.oneof(
    { weight: 4, arbitrary: fc.record({ body: rpcBody(ctx), program: mutations }).map(({ body, program }) => ({ bytes: mutate(Buffer.from(JSON.stringify(body)), program.filter((m) => m.op !== "append")), kind: `mutated (${describeMutations(program)})` })) },
    { weight: 3, arbitrary: fc.json().map((text) => ({ bytes: Buffer.from(text), kind: "json" })) },
    { weight: 3, arbitrary: fc.uint8Array({ maxLength: 256 }).map((bytes) => ({ bytes: Buffer.from(bytes), kind: "bytes" })) },
    {
      weight: 1,
      arbitrary: fc.constantFrom(1_000, 100_000, 1_000_000).chain((depth) =>
        fc.constantFrom("[", "{\"a\":").map((open) => ({ bytes: Buffer.from(open.repeat(depth)), kind: `nested ${depth}` }))
      )
    },
    {
      weight: 1,
      arbitrary: fc.constantFrom(1 << 20, 8 << 20).map((size) => ({
        bytes: Buffer.from(`{"_tag":"Request","id":"1","tag":"Owners","payload":{"key":"${"k".repeat(size)}"},"headers":[]}`),
        kind: `Owners with a ${size}-byte key`
      }))
    }
  )

const PROBES = ["/metrics", "/healthz", "/readyz"]
const OTHER_PATHS = [ADMIN_RPC_PATH, `${ADMIN_RPC_PATH}/`, "/RPC", "/metrics?x=1", "/%ff", "/..%2f..%2fetc%2fpasswd", "/", "/rpc?" + "a".repeat(8000)]

/** Any admin request: the probes, admin RPCs valid-shaped or not, and other methods and paths. */
export const httpCases = (ctx: FuzzContext): fc.Arbitrary<HttpCase> => {
  const node = fc.integer({ min: 0, max: ctx.addresses.length - 1 })
  const probe = fc.record({ node, path: fc.constantFrom(...PROBES) }).map(({ node, path }): HttpCase => ({
    kind: "http", node, label: `admin GET ${path}`, method: "GET", path, contentType: undefined, body: undefined, shape: `GET ${path}`
  }))
  const rpc = fc.record({ node, body: rpcBody(ctx), contentType }).map(({ node, body, contentType }): HttpCase => {
    const tags = (Array.isArray(body) ? body : [body]).map((b) => String(b.tag)).join("+")
    return {
      kind: "http", node, label: `admin POST ${ADMIN_RPC_PATH} ${TAGS.includes(tags as never) ? tags : "(other tags)"}`, method: "POST", path: ADMIN_RPC_PATH,
      contentType, body: Buffer.from(JSON.stringify(body)), shape: `${contentType ?? "no content type"}: ${preview(body)}`
    }
  })
  const odd = fc.record({ node, body: oddBody(ctx), contentType }).map(({ node, body, contentType }): HttpCase => ({
    kind: "http", node, label: `admin POST ${ADMIN_RPC_PATH} (${body.kind.split(" ")[0]})`, method: "POST", path: ADMIN_RPC_PATH,
    contentType, body: body.bytes, shape: `${contentType ?? "no content type"}: ${body.kind}, ${body.bytes.length} bytes`
  }))
  const other = fc.record({
    node,
    method: fc.constantFrom("GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"),
    path: fc.oneof(fc.constantFrom(...OTHER_PATHS, ...PROBES), fc.webPath()),
    body: fc.uint8Array({ maxLength: 64 }),
    contentType
  }).map(({ node, method, path, body, contentType }): HttpCase => {
    const withBody = method !== "GET" && method !== "HEAD"
    return {
      kind: "http", node, label: "admin other method or path", method, path: path.startsWith("/") ? path : `/${path}`,
      contentType, body: withBody ? Buffer.from(body) : undefined, shape: `${method} ${preview(path, 80)}`
    }
  })
  return fc.oneof({ weight: 2, arbitrary: probe }, { weight: 4, arbitrary: rpc }, { weight: 3, arbitrary: odd }, { weight: 1, arbitrary: other })
    .filter((c) => c.body === undefined || isHarmless(ctx, c.body))
}

/** Never a request that could make a member leave or be removed, nor one naming a host off this machine. */
const isHarmless = (ctx: FuzzContext, body: Buffer) => {
  const text = body.toString("latin1")
  if (/leave/i.test(text)) return false
  if (/remove/i.test(text) && ctx.addresses.some((a) => text.includes(a) || text.includes(a.split(":")[0]!))) return false
  return jsonLoopbackOnly(body.toString("utf8"))
}
