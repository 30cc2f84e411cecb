import { Effect } from "effect"
import { Readiness } from "../antientropy/Readiness.js"
import { NodeConfig } from "../config/NodeConfig.js"
import { formatHostPort } from "../config/parse.js"
import { PACKAGE_VERSION } from "../config/version.js"
import { Membership } from "../membership/Membership.js"
import { Ring } from "../ring/Ring.js"
import { Store } from "../store/ShardedStore.js"
import { keyHashAttribute } from "../telemetry/traceContext.js"
import {
  AdminError,
  AdminRpcs,
  KeyOwner,
  KeyOwners,
  LeaveStarted,
  LocalStats,
  MemberView,
  NodeStatus,
  RingMember,
  RingRange,
  RingView
} from "./AdminRpcs.js"
import { ringRanges, ringShares } from "./ringView.js"
import { Shutdown } from "./Shutdown.js"

/** The admin API's procedures, answered from this node's services. */
export const AdminHandlersLive = AdminRpcs.toLayer(Effect.gen(function*() {
  const config = yield* NodeConfig
  const membership = yield* Membership
  const ring = yield* Ring
  const readiness = yield* Readiness
  const store = yield* Store
  const shutdown = yield* Shutdown
  const clock = yield* Effect.clock
  const startedAtMs = clock.unsafeCurrentTimeMillis()
  const self = formatHostPort(config.addr)

  const members = (): Array<MemberView> => {
    const now = clock.unsafeCurrentTimeMillis()
    const onRing = new Set(ring.current().members)
    return membership.members()
      .map((m) =>
        new MemberView({
          address: m.address,
          state: m.status,
          incarnation: m.incarnation,
          onRing: onRing.has(m.address),
          sinceMs: Math.max(0, now - m.changedAtMs)
        })
      )
      .sort((a, b) => a.address.localeCompare(b.address))
  }
  const voting = () => readiness.synced() === ring.current()
  const ringDigest = () => keyHashAttribute(ring.hash(ring.current().members.join(",")))

  return {
    Status: () =>
      Effect.sync(() => {
        const serving = readiness.serving()
        const stats = store.stats()
        return new NodeStatus({
          address: self,
          version: PACKAGE_VERSION,
          uptimeSeconds: Math.round((clock.unsafeCurrentTimeMillis() - startedAtMs) / 1000),
          ready: serving.ready,
          readiness: serving.reason,
          votingOnCurrentRing: voting(),
          ringEpoch: ring.epoch(),
          ringMembers: ring.current().members,
          replicationFactor: ring.current().replicas,
          members: members(),
          entries: stats.entries,
          bytes: stats.bytes
        })
      }),
    Members: () => Effect.sync(members),
    Ring: ({ ranges }) =>
      Effect.sync(() => {
        const current = ring.current()
        const all = ringRanges(current)
        return new RingView({
          epoch: ring.epoch(),
          digest: ringDigest(),
          replicationFactor: current.replicas,
          vnodes: config.vnodes,
          votingOnCurrentRing: voting(),
          members: ringShares(current, all).map((share) => new RingMember(share)),
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
          owners: ring.current().preferenceList(hash).map((address, i) =>
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
    Leave: () =>
      Effect.as(
        Effect.zipRight(Effect.logInfo("leave requested through the admin API"), shutdown.request),
        new LeaveStarted({ address: self, message: "draining, handing off its data, then leaving" })
      )
  }
}))
