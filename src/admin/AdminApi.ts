import * as HttpRouter from "@effect/platform/HttpRouter"
import { RpcSerialization, RpcServer } from "@effect/rpc"
import { Effect, Layer } from "effect"
import { Membership } from "../membership/Membership.js"
import { unavailableArcs } from "../placement/movement.js"
import { Readiness } from "../placement/Readiness.js"
import { Ring } from "../placement/Ring.js"
import { Store } from "../store/ShardedStore.js"
import { Metrics } from "../telemetry/Metrics.js"
import { AdminHandlersLive } from "./AdminHandlers.js"
import { AdminHttp, phaseApp, probeRoutes } from "./AdminHttp.js"
import { ADMIN_RPC_PATH, AdminRpcs } from "./AdminRpcs.js"
import { registerNodeMetrics } from "./nodeMetrics.js"

/**
 * The admin server's answers while the node runs: `/healthz`, `/readyz`
 * from `Readiness.serving`, `/metrics` with the node's scrape-time values,
 * and the admin API at `POST /rpc` (JSON). Built last, closed first: at
 * shutdown `/readyz` turns 503 before the gRPC server starts draining.
 */
export const AdminApiLive = Layer.scopedDiscard(Effect.gen(function*() {
  const http = yield* AdminHttp
  const metrics = yield* Metrics
  const readiness = yield* Readiness
  const membership = yield* Membership
  const ring = yield* Ring
  const store = yield* Store
  registerNodeMetrics(metrics.registry, {
    storeStats: store.stats,
    members: membership.members,
    ringMembers: () => ring.current()?.config.members.length ?? 0,
    ringEpoch: ring.epoch,
    ringPhase: () => ring.current()?.phase,
    rangesUnavailable: () => {
      const view = ring.current()
      if (view === undefined) return 0
      return unavailableArcs(view, (address) => address === membership.self || membership.liveness.reachable(address)).length
    },
    ready: () => readiness.serving().ready,
    voting: () => ring.status() === "member" && readiness.serving().ready
  })
  const rpc = yield* RpcServer.toHttpApp(AdminRpcs, { disableTracing: true })
  yield* http.install(probeRoutes(metrics, readiness.serving).pipe(HttpRouter.post(ADMIN_RPC_PATH, rpc)))
  yield* Effect.addFinalizer(() => http.install(phaseApp(metrics, "leaving the cluster")))
})).pipe(Layer.provide(AdminHandlersLive), Layer.provide(RpcSerialization.layerJson))
