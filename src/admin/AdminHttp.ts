import { createServer } from "node:http"
import * as HttpApp from "@effect/platform/HttpApp"
import * as HttpMiddleware from "@effect/platform/HttpMiddleware"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerRequest from "@effect/platform/HttpServerRequest"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as NodeHttpServerRequest from "@effect/platform-node/NodeHttpServerRequest"
import { Duration, Effect, FiberSet, Option, Redacted, type Scope } from "effect"
import { adminAddressOf, NodeConfig } from "../config/NodeConfig.js"
import { formatHostPort, isLoopbackHost } from "../config/parse.js"
import { ServerStartError } from "../config/startupError.js"
import { Metrics } from "../telemetry/Metrics.js"
import { bearerCheck, type BearerVerdict } from "./bearer.js"
import { type BoundedBody, discardRest, readBounded } from "./boundedBody.js"

/** What the admin server answers with: a router of its own paths (an unknown path is 404). */
export type AdminApp = HttpApp.Default<unknown, Scope.Scope>

/** Whether the node should get traffic, and why (see `Readiness.serving`). */
export type Serving = () => { readonly ready: boolean; readonly reason: string }

/**
 * The paths every phase of the node's life answers: `/healthz` (the process
 * is up), `/readyz` (200 only while `serving` says ready; orchestrators
 * route traffic and pace rolling updates by it) and `/metrics` (Prometheus
 * text). `rest` answers everything else.
 */
export const probeRoutes = (metrics: Metrics, serving: Serving) =>
  HttpRouter.empty.pipe(
    HttpRouter.get("/healthz", Effect.succeed(HttpServerResponse.text("ok\n"))),
    HttpRouter.get(
      "/readyz",
      Effect.sync(() => {
        const { ready, reason } = serving()
        return HttpServerResponse.text(`${reason}\n`, { status: ready ? 200 : 503 })
      })
    ),
    HttpRouter.get(
      "/metrics",
      Effect.promise(() => metrics.registry.metrics()).pipe(
        Effect.map((text) => HttpServerResponse.text(text, { contentType: metrics.registry.contentType }))
      )
    )
  )

/** The app while the node starts or leaves: probes and metrics, 503 for the admin API. */
export const phaseApp = (metrics: Metrics, reason: string): AdminApp =>
  probeRoutes(metrics, () => ({ ready: false, reason })).pipe(
    HttpRouter.all("*", Effect.succeed(HttpServerResponse.text(`${reason}\n`, { status: 503 })))
  )

/** The largest request body the admin server reads; its requests are a few hundred bytes. */
export const ADMIN_MAX_BODY_BYTES = 1024 * 1024

/** Paths that answer without the admin token: orchestrators probe them. */
const OPEN_PATHS: ReadonlySet<string> = new Set(["/healthz", "/readyz"])

/**
 * How much of a refused request's body is still read (and dropped) so that
 * its sender sees the answer, and for how long, before the connection is
 * closed under it. Closing at once makes a client still writing see a reset
 * instead of the 401 or 413 (seen in the tests under load); the dropped
 * bytes are garbage until the next GC, so the budget stays small.
 */
export const ADMIN_LINGER_BYTES = 8 * 1024 * 1024
/** How long a refused request's body is still dropped before its connection is closed (see ADMIN_LINGER_BYTES). */
export const ADMIN_LINGER = Duration.seconds(2)

const refuse = (status: number, reason: string, headers: Record<string, string> = {}) =>
  HttpServerResponse.text(`${reason}\n`, { status, headers })

const tooLarge = refuse(413, `request body over ${ADMIN_MAX_BODY_BYTES} bytes`)
const unauthorized = (verdict: Exclude<BearerVerdict, "ok">) =>
  refuse(401, verdict === "missing" ? "admin token missing: send Authorization: Bearer <ADMIN_TOKEN>" : "admin token wrong", {
    "www-authenticate": "Bearer"
  })

const readBody = (request: HttpServerRequest.HttpServerRequest) =>
  Effect.async<BoundedBody>((resume) => {
    const stop = readBounded(NodeHttpServerRequest.toIncomingMessage(request), ADMIN_MAX_BODY_BYTES, (body) => resume(Effect.succeed(body)))
    return Effect.sync(stop)
  })

/** The request as the app sees it once its body has been read here: the same URL, headers and peer, the body from memory. */
const withBody = (request: HttpServerRequest.HttpServerRequest, bytes: Buffer) =>
  HttpServerRequest.fromWeb(new Request(`http://admin${request.url}`, { method: request.method, body: bytes })).modify({
    url: request.url,
    headers: request.headers,
    ...Option.match(request.remoteAddress, { onNone: () => ({}), onSome: (remoteAddress) => ({ remoteAddress }) })
  })

/**
 * What every request meets before `app`. With a token configured, every
 * path but the probes asks for `Authorization: Bearer <token>` (401 with a
 * short reason otherwise). A body is read here, at most
 * ADMIN_MAX_BODY_BYTES of it: a larger one, declared (Content-Length) or
 * streamed (chunked), gets 413 and is kept no further. The rest of a
 * refused body is dropped as it comes for a while (`refuseUnread`), so that
 * a sender still writing it reads the answer. The platform's own
 * limit (`HttpIncomingMessage.withMaxBodySize`) only counts streamed bytes
 * and, once over, destroys the socket (the caller sees a reset, not 413) and
 * the RPC server turns the failure into a defect; so the body is read here
 * and the app gets it from memory.
 */
export const guard = (token: Option.Option<Redacted.Redacted<string>>, lingering: FiberSet.FiberSet) => {
  const check = Option.map(token, (value) => bearerCheck(Redacted.value(value)))
  /** A refusal of a request whose body has not all arrived: its rest is dropped, within ADMIN_LINGER_BYTES and ADMIN_LINGER. */
  const refuseUnread = (request: HttpServerRequest.HttpServerRequest, response: HttpServerResponse.HttpServerResponse) =>
    Effect.suspend(() => {
      const source = NodeHttpServerRequest.toIncomingMessage(request)
      if (source.readableEnded || source.destroyed) return Effect.succeed(response)
      const close = discardRest(source, ADMIN_LINGER_BYTES)
      // A body that has all arrived ends by itself; one still coming is cut off after ADMIN_LINGER.
      return source.complete ? Effect.succeed(response) : Effect.as(FiberSet.run(lingering, Effect.delay(Effect.sync(close), ADMIN_LINGER)), response)
    })
  return <E, R>(app: HttpApp.Default<E, R>): HttpApp.Default<E, R> =>
    Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      const declared = request.headers["content-length"]
      if (declared !== undefined && Number(declared) > ADMIN_MAX_BODY_BYTES) return yield* refuseUnread(request, tooLarge)
      if (Option.isSome(check) && !OPEN_PATHS.has(request.url.split("?")[0]!)) {
        const verdict = check.value(request.headers["authorization"])
        if (verdict !== "ok") return yield* refuseUnread(request, unauthorized(verdict))
      }
      const hasBody = (declared !== undefined && declared !== "0") || request.headers["transfer-encoding"] !== undefined
      if (!hasBody) return yield* app
      const body = yield* readBody(request)
      if (body._tag === "TooLarge") return yield* refuseUnread(request, tooLarge)
      if (body._tag === "Failed") return refuse(400, `request body not read: ${body.reason}`)
      // Only the admin API (POST /rpc) takes a body: any other is read (within the limit) and dropped.
      if (request.method !== "POST") return yield* app
      return yield* Effect.provideService(app, HttpServerRequest.HttpServerRequest, withBody(request, body.bytes))
    })
}

/**
 * The admin HTTP listener on `ADMIN_ADDR`. It opens before the node's other
 * services and closes after them, so `/healthz`, `/readyz` and `/metrics`
 * answer through start-up and the whole graceful shutdown (drain, hand-off,
 * leave); what it answers is swapped as the node moves through its life
 * (`install`), behind `guard` (token, body limit). Admin requests are not traced.
 */
export class AdminHttp extends Effect.Service<AdminHttp>()("cache/admin/AdminHttp", {
  scoped: Effect.gen(function*() {
    const config = yield* NodeConfig
    const metrics = yield* Metrics
    let app: AdminApp = phaseApp(metrics, "starting")
    const install = (next: AdminApp) =>
      Effect.sync(() => {
        app = next
      })
    const addr = adminAddressOf(config)
    if (addr === undefined) return { address: undefined as string | undefined, install } as const

    const wanted = formatHostPort(addr)
    const server = yield* NodeHttpServer.make(() => createServer(), { host: addr.host, port: addr.port }).pipe(
      Effect.mapError((error) => new ServerStartError({ address: wanted, reason: `admin server: ${String(error.cause)}` }))
    )
    const lingering = yield* FiberSet.make()
    yield* server.serve(guard(config.adminToken, lingering)(Effect.suspend(() => app))).pipe(HttpMiddleware.withTracerDisabledWhenEffect(() => true))
    const address = server.address._tag === "TcpAddress" ? formatHostPort({ host: addr.host, port: server.address.port }) : wanted
    yield* Effect.logInfo("admin listening").pipe(Effect.annotateLogs({ address }))
    if (Option.isNone(config.adminToken) && !isLoopbackHost(addr.host)) {
      // Only INSECURE_CLUSTER lets a node get here (NodeConfig refuses it otherwise).
      yield* Effect.logWarning("INSECURE_CLUSTER=true: the admin API and /metrics answer anyone who reaches the admin server (no ADMIN_TOKEN)")
        .pipe(Effect.annotateLogs({ address }))
    }
    return { address: address as string | undefined, install } as const
  })
}) {}
