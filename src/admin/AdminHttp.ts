import { createServer } from "node:http"
import * as HttpApp from "@effect/platform/HttpApp"
import * as HttpMiddleware from "@effect/platform/HttpMiddleware"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { Effect, type Scope } from "effect"
import { adminAddressOf, NodeConfig } from "../config/NodeConfig.js"
import { formatHostPort } from "../config/parse.js"
import { ServerStartError } from "../grpc/GrpcServer.js"
import { Metrics } from "../telemetry/Metrics.js"

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

/**
 * The admin HTTP listener on `ADMIN_ADDR`. It opens before the node's other
 * services and closes after them, so `/healthz`, `/readyz` and `/metrics`
 * answer through start-up and the whole graceful shutdown (drain, hand-off,
 * leave); what it answers is swapped as the node moves through its life
 * (`install`). Admin requests are not traced.
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
    yield* server.serve(Effect.suspend(() => app)).pipe(HttpMiddleware.withTracerDisabledWhenEffect(() => true))
    const address = server.address._tag === "TcpAddress" ? formatHostPort({ host: addr.host, port: server.address.port }) : wanted
    yield* Effect.logInfo("admin listening").pipe(Effect.annotateLogs({ address }))
    return { address: address as string | undefined, install } as const
  })
}) {}
