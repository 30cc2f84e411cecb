import { Array as Arr, Duration, Effect, Layer, Random, Schedule, type Scope, Stream, SubscriptionRef } from "effect"
import { NodeConfig } from "../config/NodeConfig.js"
import { formatHostPort } from "../config/parse.js"
import { PeerClient, type ProbeMessage } from "../peer/PeerClient.js"
import { majority } from "../replication/consistency.js"
import { GossipQueue } from "./gossip.js"
import { suspicionTimeoutMs } from "./suspicion.js"
import { MemberTable, type MemberRecord, type MemberUpdate } from "./swim.js"

/** Gossip updates waiting to be piggybacked, at most. */
const GOSSIP_QUEUE_MAX = 4096
/** Protocol periods between full state syncs with a random member. */
const STATE_SYNC_EVERY_PERIODS = 10
/**
 * A member gone (dead or left) is forgotten after this many DEAD_NODE_TIMEOUTs:
 * long after it left the ring, so that a member that comes back still hears
 * that it was declared dead (and pulls its ranges again) rather than being
 * taken for a new one.
 */
const FORGET_AFTER_DEAD_TIMEOUTS = 10
/** Longest pause between join attempts while no seed answers. */
const JOIN_BACKOFF_MAX = Duration.seconds(10)

const sameMembers = (a: ReadonlyArray<string>, b: ReadonlyArray<string>) =>
  a.length === b.length && a.every((member, i) => member === b[i])

/**
 * SWIM membership: each protocol period probes one member (round-robin over
 * a shuffled list), asks INDIRECT_PROBES others to probe it when it stays
 * silent, and suspects it when nobody got an answer; a suspect that does not
 * refute within the suspicion timeout is dead. Updates travel piggybacked on
 * probes and acks. A node joins through any seed in PEERS (retrying with
 * backoff while none answers, serving as a one-node cluster meanwhile) and
 * announces its leave when its scope closes.
 */
export class Membership extends Effect.Service<Membership>()("cache/membership/Membership", {
  scoped: Effect.gen(function*() {
    const config = yield* NodeConfig
    const peers = yield* PeerClient
    const clock = yield* Effect.clock
    const nowMs = () => clock.unsafeCurrentTimeMillis()
    const self = formatHostPort(config.addr)
    const probeTimeout = config.probeTimeout
    const table = new MemberTable(self, nowMs())
    const gossip = new GossipQueue(GOSSIP_QUEUE_MAX)

    // Dead members this node has taken off its ring (see `removeExpiredDead`);
    // one that comes back alive is on the ring again.
    const removed = new Set<string>()
    // Members on the ring: everyone who has not left and was not removed as dead.
    const ringMembersNow = () =>
      table.members()
        .filter((m) => m.status !== "left" && !(m.status === "dead" && removed.has(m.address)))
        .map((m) => m.address)
    const ring = yield* SubscriptionRef.make<ReadonlyArray<string>>(ringMembersNow())

    const logChange = (update: MemberUpdate) =>
      update.address === self && update.status === "alive"
        ? Effect.logInfo("refuted a rumor about this node").pipe(Effect.annotateLogs({ incarnation: update.incarnation }))
        : Effect.logInfo(`member ${update.status}`).pipe(
          Effect.annotateLogs({ member: update.address, incarnation: update.incarnation })
        )

    // Counts the times others declared this node dead (and it refuted it).
    const declaredDead = yield* SubscriptionRef.make(0)

    /** Applies rumors, queues what changed for further gossip, republishes the ring members. */
    const learn = (updates: ReadonlyArray<MemberUpdate>): Effect.Effect<void> =>
      Effect.suspend(() => {
        const changes: Array<MemberUpdate> = []
        let refutedDeath = false
        for (const update of updates) {
          const change = table.apply(update, nowMs())
          if (change !== undefined) changes.push(change)
          if (change !== undefined && update.address === self && update.status === "dead") refutedDeath = true
        }
        const announced = changes.length === 0 ? Effect.void : announce(changes)
        return refutedDeath ? Effect.zipRight(announced, SubscriptionRef.update(declaredDead, (n) => n + 1)) : announced
      })

    const announce = (changes: ReadonlyArray<MemberUpdate>) =>
      Effect.gen(function*() {
        for (const change of changes) {
          gossip.enqueue(change)
          yield* logChange(change)
        }
        const next = ringMembersNow()
        const current = yield* SubscriptionRef.get(ring)
        if (!sameMembers(current, next)) {
          for (const gone of current.filter((m) => !next.includes(m))) peers.disconnect(gone)
          yield* SubscriptionRef.set(ring, next)
        }
      })

    /** Members still taking part (self included): what gossip and suspicion scale with. */
    const clusterSize = () => table.probeable().length + 1
    const outgoing = () => gossip.take(config.gossipPerMessage, clusterSize())
    const selfUpdate = (): MemberUpdate => ({ address: self, incarnation: table.selfIncarnation, status: "alive" })
    const message = (target: string): ProbeMessage => ({ from: self, target, gossip: outgoing() })

    /** True when `target` answered a direct probe within PROBE_TIMEOUT. */
    const probe = (target: string): Effect.Effect<boolean> =>
      peers.ping(target, message(target)).pipe(
        Effect.timeout(probeTimeout),
        Effect.flatMap((rumors) => Effect.as(learn(rumors), true)),
        Effect.orElseSucceed(() => false)
      )

    const probeIndirectly = (target: string): Effect.Effect<boolean> =>
      Effect.gen(function*() {
        const others = table.probeable().filter((m) => m !== target)
        const helpers = Arr.take(yield* Random.shuffle(others), config.indirectProbes)
        if (helpers.length === 0) return false
        const answers = yield* Effect.forEach(helpers, (helper) =>
          peers.pingReq(helper, message(target)).pipe(
            Effect.timeout(Duration.subtract(config.probeInterval, probeTimeout)),
            Effect.tap((reply) => learn(reply.gossip)),
            Effect.map((reply) => reply.ack),
            Effect.orElseSucceed(() => false)
          ), { concurrency: "unbounded" })
        return answers.some((ack) => ack)
      })

    let order: Array<string> = []
    const nextTarget = Effect.gen(function*() {
      const probeable = table.probeable()
      order = order.filter((m) => probeable.includes(m))
      if (order.length === 0) order = [...(yield* Random.shuffle(probeable))]
      return order.shift()
    })

    // Piggybacked gossip stops after a few retransmissions, so a member that
    // missed an update would never hear it. Every few periods, pull a random
    // member's whole table (push-pull state sync, as memberlist does). Every
    // other sync goes to a seed this node does not know as a live member, if
    // any: nodes started together may each have joined a different seed and
    // formed separate clusters, and this is what merges them.
    const seeds = config.peers.map(formatHostPort).filter((seed) => seed !== self)
    let period = 0
    const syncState = Effect.gen(function*() {
      const others = table.probeable()
      const strangers = seeds.filter((seed) => !others.includes(seed))
      const pool = strangers.length > 0 && (period / STATE_SYNC_EVERY_PERIODS) % 2 === 1 ? strangers : others
      if (pool.length === 0) return
      const peer = pool[yield* Random.nextIntBetween(0, pool.length)]!
      yield* peers.join(peer, selfUpdate()).pipe(
        Effect.timeout(config.probeInterval),
        Effect.flatMap(learn),
        Effect.ignore
      )
    })

    const deadMs = Duration.toMillis(config.deadNodeTimeout)
    /**
     * Members dead for DEAD_NODE_TIMEOUT leave the ring, but only while this
     * node sees a majority of its ring alive: a node cut off in a minority
     * would otherwise shrink its ring to the members it still sees and serve
     * quorums of its own (split brain).
     */
    const removeExpiredDead = Effect.suspend(() => {
      const now = nowMs()
      const expired = table.members().filter((m) => m.status === "dead" && !removed.has(m.address) && now - m.changedAtMs >= deadMs)
      if (expired.length === 0) return Effect.void
      const onRing = ringMembersNow()
      const live = table.members().filter((m) => onRing.includes(m.address) && (m.status === "alive" || m.status === "suspect"))
      if (live.length < majority(onRing.length)) {
        return Effect.logDebug("keeping dead members on the ring: no majority in sight").pipe(
          Effect.annotateLogs({ live: live.length, ring: onRing.length })
        )
      }
      for (const member of expired) removed.add(member.address)
      return Effect.zipRight(
        Effect.logWarning("removed dead members from the ring").pipe(
          Effect.annotateLogs({ members: expired.map((m) => m.address).join(",") })
        ),
        announce([])
      )
    })

    const protocolPeriod = Effect.gen(function*() {
      if (++period % STATE_SYNC_EVERY_PERIODS === 0) yield* syncState
      const target = yield* nextTarget
      if (target !== undefined && !(yield* probe(target)) && !(yield* probeIndirectly(target))) {
        const change = table.suspect(target, nowMs())
        if (change !== undefined) yield* announce([change])
      }
      const timeoutMs = suspicionTimeoutMs(
        Duration.toMillis(config.probeInterval),
        config.suspicionMultiplier,
        clusterSize()
      )
      const dead = table.expireSuspects(nowMs(), timeoutMs)
      if (dead.length > 0) yield* announce(dead)
      yield* removeExpiredDead
      for (const gone of table.reap(nowMs(), deadMs * FORGET_AFTER_DEAD_TIMEOUTS)) removed.delete(gone)
      for (const address of removed) if (table.get(address)?.status !== "dead") removed.delete(address)
    })
    yield* Effect.forkScoped(Effect.repeat(protocolPeriod, Schedule.spaced(config.probeInterval)))

    // A node with no seeds is a cluster of its own from the start.
    let joined = seeds.length === 0
    const joinOnce = Effect.firstSuccessOf(seeds.map((seed) =>
      peers.join(seed, selfUpdate()).pipe(
        Effect.tap((members) => learn(members)),
        Effect.tap(() =>
          Effect.sync(() => {
            joined = true
          })
        ),
        Effect.tap(() => Effect.logInfo("joined the cluster").pipe(Effect.annotateLogs({ seed, members: table.members().length })))
      )
    ))
    /**
     * Joins through the seeds in the background, retrying with backoff. Called
     * once this node answers peer calls: joining earlier would put it on
     * others' rings while it still refuses their connections.
     */
    const joinInBackground: Effect.Effect<void, never, Scope.Scope> = seeds.length === 0 ? Effect.void : Effect.asVoid(
      Effect.forkScoped(joinOnce.pipe(
        Effect.tapError((error) => Effect.logWarning("no seed answered; retrying").pipe(Effect.annotateLogs({ reason: error.message }))),
        Effect.retry(Schedule.exponential("200 millis").pipe(Schedule.union(Schedule.spaced(JOIN_BACKOFF_MAX)))),
        Effect.ignore
      ))
    )

    // Leaving: mark ourselves left and tell a few members directly; gossip does the rest.
    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        const left = table.leave(nowMs())
        gossip.enqueue(left)
        const targets = Arr.take(table.probeable(), config.indirectProbes + 1)
        yield* Effect.forEach(targets, (target) => Effect.ignore(Effect.timeout(peers.ping(target, message(target)), probeTimeout)), {
          concurrency: "unbounded"
        })
        yield* Effect.logInfo("left the cluster").pipe(Effect.annotateLogs({ told: targets.length }))
      })
    )

    return {
      self,
      joinInBackground,
      /** Whether this node is part of a cluster: it has no seeds, or a seed answered its join. */
      joined: (): boolean => joined,
      /** Everyone known, self included, with status and incarnation. */
      members: (): ReadonlyArray<MemberRecord> => table.members(),
      /** The addresses that make up the ring now. */
      ringMembers: (): ReadonlyArray<string> => ringMembersNow(),
      /** Ring member lists as they change (the current one first). */
      ringChanges: ring.changes as Stream.Stream<ReadonlyArray<string>>,
      /**
       * Ticks each time this node hears it was declared dead: the others may
       * have taken it off their rings and written its keys elsewhere
       * meanwhile, so what it holds is no longer complete.
       */
      declaredDead: Stream.drop(declaredDead.changes, 1).pipe(Stream.map((): void => undefined)),
      // The server side of the membership protocol.
      onPing: (incoming: ProbeMessage): Effect.Effect<ReadonlyArray<MemberUpdate>> =>
        Effect.as(learn(incoming.gossip), outgoing()),
      onPingReq: (incoming: ProbeMessage) =>
        Effect.zipRight(learn(incoming.gossip), Effect.map(probe(incoming.target), (ack) => ({ ack, gossip: outgoing() }))),
      onJoin: (joiner: MemberUpdate): Effect.Effect<ReadonlyArray<MemberUpdate>> =>
        Effect.as(learn([joiner]), table.members().map(({ address, incarnation, status }) => ({ address, incarnation, status })))
    } as const
  })
}) {
  /** A one-member view for tests that need no peers. */
  static readonly layerSolo = Layer.effect(
    Membership,
    Effect.map(NodeConfig, (config) => {
      const self = formatHostPort(config.addr)
      return new Membership({
        self,
        members: () => [{ address: self, incarnation: 0, status: "alive", changedAtMs: 0 }],
        ringMembers: () => [self],
        ringChanges: Stream.make([self]),
        declaredDead: Stream.never,
        joinInBackground: Effect.void,
        joined: () => true,
        onPing: () => Effect.succeed([]),
        onPingReq: () => Effect.succeed({ ack: false, gossip: [] }),
        onJoin: () => Effect.succeed([])
      })
    })
  )
}
