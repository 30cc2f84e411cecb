import { Deferred, Duration, Effect, FiberId, FiberSet, Option, Random, Schedule, Stream, SubscriptionRef } from "effect"
import { NodeConfig, selfAddress } from "../config/NodeConfig.js"
import { formatHostPort } from "../config/parse.js"
import { Membership } from "../membership/Membership.js"
import { PeerClient } from "../peer/PeerClient.js"
import type { PeerError } from "../peer/PeerError.js"
import type { HelloResponse, MemberId, PlacementRequest, PlacementResponse } from "../protocol/placement.js"
import { type Hash32, loadXxHash32 } from "../ring/keyHash.js"
import { backgroundLoop, inShutdown, survive } from "../telemetry/background.js"
import { Store } from "../store/ShardedStore.js"
import { Metrics } from "../telemetry/Metrics.js"
import type { ConfigView, RingSettings } from "./ConfigView.js"
import { type Outbound, PlacementCore } from "./PlacementCore.js"

/** How often the placement core is given the chance to act. */
const TICK = Duration.millis(50)
/** How often requests repeat (formation hellos, joins, leaves, reports, barrier polls). */
const RETRY_MS = 250

const newGeneration = Random.nextIntBetween(1, 0x7fffffff)

/**
 * The agreed ring: this node's part in ring agreement (a `PlacementCore`
 * driven by timers and peer calls) and the configuration it has installed,
 * which every other component routes with. Installing happens only in
 * epoch order, from decided configurations; the current view is swapped
 * whole, so the request path reads it without a lock or an Effect.
 */
export class Ring extends Effect.Service<Ring>()("cache/placement/Ring", {
  scoped: Effect.gen(function*() {
    const config = yield* NodeConfig
    const membership = yield* Membership
    const peers = yield* PeerClient
    const metrics = yield* Metrics
    const store = yield* Store
    const clock = yield* Effect.clock
    const nowMs = () => clock.unsafeCurrentTimeMillis()
    const hash: Hash32 = yield* Effect.promise(loadXxHash32)
    const settings: RingSettings = { vnodes: config.vnodes, replicas: config.replicationFactor, hash }
    const address = selfAddress(config)
    const seeds = [...new Set([address, ...config.peers.map(formatHostPort)])].sort()
    const core = new PlacementCore({ address, generation: yield* newGeneration }, {
      seeds,
      ring: settings,
      deadNodeTimeoutMs: Duration.toMillis(config.deadNodeTimeout),
      syncTimeoutMs: Duration.toMillis(config.syncTimeout),
      retryMs: RETRY_MS,
      proposalTimeoutMs: 2 * Duration.toMillis(config.rpcTimeout),
      // Only spreads retries apart; nothing depends on its sequence.
      random: Math.random
    })

    const views = yield* SubscriptionRef.make<ConfigView | undefined>(core.current)
    // Bumped whenever what readiness looks at may have changed: the configuration, the identity, synced, leaving.
    const revisions = yield* SubscriptionRef.make(0)
    const changed = SubscriptionRef.update(revisions, (n) => n + 1)
    const fibers = yield* FiberSet.make()
    const runFork = yield* FiberSet.runtime(fibers)<never>()

    /** What a new configuration means for this node: logged, counted, published. */
    const installed = (view: ConfigView, previous: ConfigView | undefined) =>
      Effect.gen(function*() {
        metrics.configurationInstalled(view.phase)
        yield* Effect.logInfo("ring changed").pipe(Effect.annotateLogs({
          epoch: view.epoch,
          phase: view.phase,
          members: view.config.members.map((m) => m.address).join(","),
          ...(view.stable ? {} : { previous: view.config.previous.map((m) => m.address).join(",") }),
          ...(view.config.forced.length === 0 ? {} : { forced: view.config.forced.map((m) => m.address).join(",") })
        }))
        membership.track(view.addresses().map((member) => view.identityOf(member)!))
        // Connections to members that are gone end here (their replica streams into it too).
        yield* Effect.forEach(previous?.addresses() ?? [], (gone) => view.identityOf(gone) === undefined ? peers.disconnect(gone) : Effect.void, {
          discard: true
        })
        yield* SubscriptionRef.set(views, view)
        // Removed while it was running (cut off long enough, or by force): what it holds is not
        // known to be current, so it comes back as a new member and pulls like one.
        const self = core.identity
        if (previous?.participates(self) === true && !view.participates(self) && core.status === "joining") {
          // Before the new identity takes any write: the others may have collected tombstones
          // of deletions this node missed, so nothing it held may ever vote again (S5).
          const dropped = store.clear()
          core.renew(yield* newGeneration)
          yield* Effect.logWarning("removed from the ring while running; joining again as a new member").pipe(
            Effect.annotateLogs({ epoch: view.epoch, generation: core.identity.generation, dropped })
          )
        }
        yield* changed
      })
    core.onInstall = (view, previous) => runFork(survive("ring install", metrics, installed(view, previous)))

    // A peer that refuses this node outright (another CLUSTER_SECRET, a certificate of another CA, a TLS
    // handshake that failed on a certificate) is said once per peer, not on every retry.
    const refusedBy = new Set<string>()
    const refused = (to: string, error: PeerError) =>
      error._tag === "PeerUnavailable" && (error.reason.startsWith("UNAUTHENTICATED") || /certificate/i.test(error.reason)) &&
      !refusedBy.has(to)
        ? Effect.zipRight(
          Effect.sync(() => refusedBy.add(to)),
          Effect.logWarning("a peer refused this node's ring-agreement calls").pipe(Effect.annotateLogs({ peer: to, reason: error.reason }))
        )
        : Effect.void
    /** Sends what the core wants sent; answers go back to it, and what it then wants sent goes out too. */
    const send = (out: ReadonlyArray<Outbound>): void => {
      for (const { to, request } of out) {
        runFork(
          peers.placement(to, request).pipe(
            Effect.tapError((error) => refused(to, error)),
            Effect.option,
            Effect.flatMap((answer) => Effect.sync(() => send(core.onReply(to, request, Option.getOrUndefined(answer), nowMs()))))
          )
        )
      }
    }
    const tick = Effect.sync(() => send(core.tick(nowMs(), membership.liveness)))
    /**
     * Starts taking part: called once this node answers peer calls (before
     * that, others would count on an acceptor or a joiner that refuses
     * their connections).
     */
    const scope = yield* Effect.scope
    let started = false
    const start: Effect.Effect<void> = Effect.suspend(() => {
      if (started) return Effect.void
      started = true
      // In the ring's own scope: it must keep running through the shutdown (a leave is agreed, not announced).
      return Effect.asVoid(Effect.forkIn(backgroundLoop("placement", metrics, tick, Schedule.spaced(TICK)), scope))
    })

    // Learning a newer configuration from a peer that has it: one hello per epoch asked at a time.
    const learning = new Map<number, Deferred.Deferred<void>>()
    const learn = (epoch: number, from: string): Effect.Effect<void> =>
      Effect.suspend(() => {
        if (core.epoch >= epoch) return Effect.void
        const pending = learning.get(epoch)
        if (pending !== undefined) return Deferred.await(pending)
        const done = Deferred.unsafeMake<void>(FiberId.none)
        learning.set(epoch, done)
        const request: PlacementRequest = { kind: "hello", body: { from: core.identity, seeds } }
        return peers.placement(from, request).pipe(
          Effect.tap((answer) =>
            Effect.sync(() => {
              const hello = answer as HelloResponse
              if (hello.config !== undefined) core.install(hello.config, nowMs())
            })
          ),
          Effect.ignore,
          Effect.ensuring(Effect.suspend(() => {
            learning.delete(epoch)
            return Deferred.succeed(done, undefined)
          }))
        )
      })
    membership.attach({
      identity: () => core.identity,
      epoch: () => core.epoch,
      onPeerEpoch: (peer, epoch) => {
        core.observeEpoch(peer, epoch)
        if (epoch > core.epoch) runFork(learn(epoch, peer))
      }
    })

    const status = () => core.status
    /**
     * Asks the others to take this node off the ring and waits until a
     * configuration without it is agreed (bounded by HANDOFF_TIMEOUT): until
     * then it stays a replica, so the members that take over its ranges can
     * copy them from it. Alone, it just goes.
     */
    const leave = Effect.gen(function*() {
      const view = core.current
      if (view === undefined || !view.participates(core.identity)) return "not a member" as const
      if (view.config.members.length === 1 && view.isMember(core.identity)) return "last member" as const
      core.requestLeave()
      yield* changed
      const left = yield* inShutdown(
        views.changes.pipe(Stream.filter(() => core.status === "left"), Stream.runHead),
        config.handoffTimeout
      )
      return Option.isSome(Option.flatten(left)) ? "left" as const : "timed out" as const
    })

    return {
      start,
      hash,
      settings,
      /** The installed configuration; undefined before the first is agreed. */
      current: (): ConfigView | undefined => core.current,
      epoch: (): number => core.epoch,
      identity: (): MemberId => core.identity,
      status,
      /** Every installed configuration as it comes (the current one first). */
      views: views.changes as Stream.Stream<ConfigView | undefined>,
      /** The last configurations installed here, oldest first. */
      history: (): ReadonlyArray<ConfigView> => core.history,
      /** What the leader (this node, if it leads) decided last. */
      plan: () => core.plan,
      leads: (): boolean => core.leads(membership.liveness),
      /** Learns a configuration of at least `epoch` from `from`, if this node is behind it. */
      learn,
      /** The epoch at which this node last finished pulling the ranges it gained. */
      synced: (): number => core.syncedAt,
      /** This node has pulled every range it gains in `epoch`. */
      markSynced: (epoch: number): Effect.Effect<void> => Effect.zipRight(Effect.sync(() => core.markSynced(epoch)), changed),
      /** Emits now and after each change of the configuration, this node's identity, what it synced, or its leaving. */
      changes: Stream.map(revisions.changes, () => undefined) as Stream.Stream<void>,
      leave,
      /** An operator's removal of the member at `address`; undefined when no member is there. */
      requestRemoval: (target: string, force: boolean): Effect.Effect<MemberId | undefined> =>
        Effect.sync(() => core.requestRemoval(target, force)),
      /** The server side of `cluster.v1.PlacementService`. */
      handle: (request: PlacementRequest): Effect.Effect<PlacementResponse> => Effect.sync(() => core.handle(request, nowMs())),
      seeds
    } as const
  })
}) {}
