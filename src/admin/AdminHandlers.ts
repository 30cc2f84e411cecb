import type { Headers } from "@effect/platform/Headers"
import { Effect, Option, Redacted } from "effect"
import { NodeConfig } from "../config/NodeConfig.js"
import { PACKAGE_VERSION } from "../config/version.js"
import { Membership } from "../membership/Membership.js"
import type { ConfigView } from "../placement/ConfigView.js"
import { arcsAtRisk, shareOf, unavailableArcs } from "../placement/movement.js"
import { Readiness } from "../placement/Readiness.js"
import { Ring } from "../placement/Ring.js"
import { type MemberId, memberKey } from "../protocol/placement.js"
import { HashRing } from "../ring/HashRing.js"
import { Store } from "../store/ShardedStore.js"
import { Metrics } from "../telemetry/Metrics.js"
import { keyHashAttribute } from "../telemetry/traceContext.js"
import {
  AdminError,
  AdminRpcs,
  Availability,
  ConfigEntry,
  KeyOwner,
  KeyOwners,
  LeaveStarted,
  LocalStats,
  MemberView,
  NodeStatus,
  RemovalStarted,
  RingMember,
  RingRange,
  RingView,
  UnavailableRange
} from "./AdminRpcs.js"
import { bearerCheck } from "./bearer.js"
import { asStartEnd, ringRanges, ringShares } from "./ringView.js"
import { Shutdown } from "./Shutdown.js"

const keys = (members: ReadonlyArray<MemberId>) => members.map(memberKey)

/** The admin API's procedures, answered from this node's services. */
export const AdminHandlersLive = AdminRpcs.toLayer(Effect.gen(function*() {
  const config = yield* NodeConfig
  const membership = yield* Membership
  const ring = yield* Ring
  const readiness = yield* Readiness
  const store = yield* Store
  const shutdown = yield* Shutdown
  const metrics = yield* Metrics
  const clock = yield* Effect.clock
  const startedAtMs = clock.unsafeCurrentTimeMillis()
  const self = membership.self
  const empty = HashRing.build([], ring.settings)

  const current = (): ConfigView | undefined => ring.current()
  const routingRing = (): HashRing => current()?.next ?? empty

  const members = (): Array<MemberView> => {
    const now = clock.unsafeCurrentTimeMillis()
    const view = current()
    return membership.members()
      .map((m) =>
        new MemberView({
          address: m.address,
          generation: m.address === self ? ring.identity().generation : m.generation,
          state: m.status,
          incarnation: m.incarnation,
          onRing: view?.next.members.includes(m.address) ?? false,
          sinceMs: Math.max(0, now - m.changedAtMs)
        })
      )
      .sort((a, b) => a.address.localeCompare(b.address))
  }
  const voting = () => ring.status() === "member" && readiness.serving().ready
  const ringDigest = () => keyHashAttribute(ring.hash(routingRing().members.join(",")))
  const tokenCheck = Option.map(config.adminToken, (token) => bearerCheck(Redacted.value(token)))
  /**
   * Leave and forced removal take the node (or a member's data) away: they need
   * the admin token even where the rest of the API is open, so without one
   * configured they are refused. With one, the admin server has already
   * checked it; this checks again, in case the procedures are ever served
   * without that guard.
   */
  const requireToken = (what: string, headers: Headers) => {
    if (Option.isNone(tokenCheck)) {
      return Effect.zipRight(
        Effect.logWarning(`${what} refused: no admin token configured`),
        Effect.fail(
          new AdminError({
            message: `${what} needs the admin token, and this node has none: ` +
              "set ADMIN_TOKEN (or ADMIN_TOKEN_FILE) on the node, then pass it to the CLI (ADMIN_TOKEN or --token-file)"
          })
        )
      )
    }
    return tokenCheck.value(headers["authorization"]) === "ok"
      ? Effect.void
      : Effect.fail(new AdminError({ message: `${what} needs the admin token: missing or wrong` }))
  }
  /** Reachable, in this node's failure detector (itself always). */
  const reachable = (address: string) => address === self || membership.liveness.reachable(address)

  return {
    Status: () =>
      Effect.sync(() => {
        const serving = readiness.serving()
        const stats = store.stats()
        const view = current()
        return new NodeStatus({
          address: self,
          generation: ring.identity().generation,
          version: PACKAGE_VERSION,
          uptimeSeconds: Math.round((clock.unsafeCurrentTimeMillis() - startedAtMs) / 1000),
          ready: serving.ready,
          readiness: serving.reason,
          status: ring.status(),
          votingOnCurrentRing: voting(),
          ringEpoch: ring.epoch(),
          ...(view === undefined ? {} : { ringPhase: view.phase }),
          ringMembers: routingRing().members,
          leader: ring.leads(),
          replicationFactor: routingRing().replicas,
          members: members(),
          entries: stats.entries,
          bytes: stats.bytes
        })
      }),
    Members: () => Effect.sync(members),
    Ring: ({ ranges }) =>
      Effect.sync(() => {
        const view = current()
        const routing = routingRing()
        const all = ringRanges(routing)
        return new RingView({
          epoch: ring.epoch(),
          ...(view === undefined ? {} : { phase: view.phase }),
          digest: ringDigest(),
          previous: view?.config.previous.map((m) => m.address) ?? [],
          forced: view?.config.forced.map((m) => m.address) ?? [],
          replicationFactor: routing.replicas,
          vnodes: config.vnodes,
          votingOnCurrentRing: voting(),
          members: ringShares(routing, all).map((share) => new RingMember(share)),
          ...(ranges ? { ranges: all.map((range) => new RingRange({ ...range, replicas: [...range.replicas] })) } : {})
        })
      }),
    Owners: ({ key }) => {
      if (key === "") return Effect.fail(new AdminError({ message: "key is empty" }))
      return Effect.sync(() => {
        const hash = ring.hash(key)
        const states = new Map(membership.members().map((m) => [m.address, m.status]))
        return new KeyOwners({
          key,
          hash: keyHashAttribute(hash),
          owners: routingRing().preferenceList(hash).map((address, i) =>
            new KeyOwner({ address, state: states.get(address) ?? "unknown", primary: i === 0 })
          )
        })
      })
    },
    Stats: () =>
      Effect.sync(() => {
        const memory = process.memoryUsage()
        return new LocalStats({
          ...store.stats(),
          capacity: config.capacity,
          maxMemoryBytes: config.maxMemoryBytes,
          residentBytes: memory.rss,
          heapUsedBytes: memory.heapUsed
        })
      }),
    History: () =>
      Effect.sync(() =>
        ring.history().map((view) =>
          new ConfigEntry({
            epoch: view.epoch,
            phase: view.phase,
            members: keys(view.config.members),
            previous: keys(view.config.previous),
            forced: keys(view.config.forced)
          })
        )
      ),
    Unavailable: () =>
      Effect.sync(() => {
        const view = current()
        const plan = ring.plan()
        const leaderPlan = !ring.leads() ? "not the leader" : plan._tag === "Idle" ? "nothing to do" : `${plan._tag}: ${"why" in plan ? plan.why : ""}`
        if (view === undefined) return new Availability({ epoch: 0, unavailableShare: 1, ranges: [], leaderPlan })
        const arcs = unavailableArcs(view, reachable)
        return new Availability({
          epoch: view.epoch,
          unavailableShare: shareOf(arcs.map((a) => a.range)),
          ranges: arcs.map((arc) => new UnavailableRange({ ...asStartEnd(arc.range), replicas: [...arc.replicas], unreachable: [...arc.unreachable] })),
          leaderPlan
        })
      }),
    Remove: ({ force, member }, { headers }) =>
      Effect.gen(function*() {
        if (force) yield* requireToken("forced removal", headers)
        const view = current()
        if (view === undefined) return yield* Effect.fail(new AdminError({ message: "no ring is agreed yet" }))
        if (member === self) return yield* Effect.fail(new AdminError({ message: "a node cannot remove itself; use leave" }))
        const atRisk = view.stable ? arcsAtRisk(view, new Set([member]), reachable) : []
        if (atRisk.length > 0 && !force) {
          return yield* Effect.fail(new AdminError({
            message: `removing ${member} would leave ${atRisk.length} ranges (${(shareOf(atRisk) * 100).toFixed(1)}% of keys) ` +
              "without a reachable majority of replicas; writes only it holds would be lost. Repeat with force to remove it anyway"
          }))
        }
        const target = yield* ring.requestRemoval(member, force)
        if (target === undefined) return yield* Effect.fail(new AdminError({ message: `${member} is not a member of the ring` }))
        if (force) {
          metrics.forcedRemoval()
          yield* Effect.logWarning("member removal forced through the admin API").pipe(
            Effect.annotateLogs({ member: memberKey(target), rangesAtRisk: atRisk.length, shareAtRisk: shareOf(atRisk) })
          )
        } else {
          yield* Effect.logInfo("member removal asked through the admin API").pipe(Effect.annotateLogs({ member: memberKey(target) }))
        }
        return new RemovalStarted({
          member: memberKey(target),
          force,
          rangesAtRisk: atRisk.length,
          shareAtRisk: shareOf(atRisk),
          message: force && atRisk.length > 0
            ? `removing by force: ${atRisk.length} ranges (${(shareOf(atRisk) * 100).toFixed(1)}% of keys) may have lost writes`
            : "removal asked of the leader; the ring changes once it is agreed"
        })
      }),
    Leave: (_, { headers }) =>
      requireToken("leave", headers).pipe(
        Effect.zipRight(Effect.logInfo("leave requested through the admin API")),
        Effect.zipRight(shutdown.request),
        Effect.as(new LeaveStarted({ address: self, message: "draining client calls, then leaving the ring by agreement" }))
      )
  }
}))
