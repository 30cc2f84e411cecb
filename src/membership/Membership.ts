import { Array as Arr, Duration, Effect, Random, Schedule } from "effect"
import { NodeConfig, selfAddress } from "../config/NodeConfig.js"
import { PeerClient } from "../peer/PeerClient.js"
import type { IndirectAck, MemberUpdate, ProbeAck, ProbeMessage } from "../protocol/membership.js"
import type { MemberId } from "../protocol/placement.js"
import { backgroundLoop } from "../telemetry/background.js"
import { Metrics } from "../telemetry/Metrics.js"
import { GossipQueue } from "./gossip.js"
import type { Liveness } from "./liveness.js"
import { suspicionTimeoutMs } from "./suspicion.js"
import { type MemberRecord, MemberTable } from "./swim.js"

/** Gossip updates waiting to be piggybacked, at most. */
const GOSSIP_QUEUE_MAX = 4096

/** What the ring tells membership about this node, and wants to hear from it. */
export interface RingLink {
  readonly identity: () => MemberId
  readonly epoch: () => number
  /** A peer showed its ring epoch (in a probe or an answer). */
  readonly onPeerEpoch: (address: string, epoch: number) => void
}

/**
 * SWIM failure detection among the members of the agreed ring: each protocol
 * period probes one member (round-robin over a shuffled list), asks
 * INDIRECT_PROBES others to probe it when it stays silent, and suspects it
 * when nobody got an answer; a suspect that does not answer within the
 * suspicion timeout is dead. It only detects: the ring changes by agreement
 * (`Ring`), which asks `liveness` here. Updates travel piggybacked on probes
 * and acks under the trust rules of `MemberTable`; probes carry each side's
 * generation and ring epoch, so a restarted process is told apart and a node
 * behind learns the newer ring.
 */
export class Membership extends Effect.Service<Membership>()("cache/membership/Membership", {
  scoped: Effect.gen(function*() {
    const config = yield* NodeConfig
    const peers = yield* PeerClient
    const metrics = yield* Metrics
    const clock = yield* Effect.clock
    const nowMs = () => clock.unsafeCurrentTimeMillis()
    const self = selfAddress(config)
    const probeTimeout = config.probeTimeout
    const table = new MemberTable(self, nowMs())
    const gossip = new GossipQueue(GOSSIP_QUEUE_MAX)
    /** Members a third party suspected: probed first, before the round-robin goes on. */
    const toCheck = new Set<string>()

    let ring: RingLink = { identity: () => ({ address: self, generation: 0 }), epoch: () => 0, onPeerEpoch: () => undefined }

    const logChange = (update: MemberUpdate) =>
      update.address === self
        ? Effect.logInfo("refuted a rumor about this node").pipe(Effect.annotateLogs({ incarnation: update.incarnation, status: update.status }))
        : Effect.logInfo(`member ${update.status}`).pipe(Effect.annotateLogs({ member: update.address, incarnation: update.incarnation }))

    const announce = (changes: ReadonlyArray<MemberUpdate | undefined>) =>
      Effect.forEach(changes, (change) => {
        if (change === undefined) return Effect.void
        gossip.enqueue(change)
        return logChange(change)
      }, { discard: true })

    /** Applies rumors heard from `from`; a third party's suspicion puts the member first in line for a probe. */
    const learn = (updates: ReadonlyArray<MemberUpdate>, from: string): Effect.Effect<void> =>
      Effect.suspend(() => {
        const changes: Array<MemberUpdate> = []
        for (const update of updates) {
          const applied = table.apply(update, from, nowMs())
          if (applied.change !== undefined) changes.push(applied.change)
          if (applied.check) toCheck.add(update.address)
        }
        return announce(changes)
      })

    /**
     * A member answered, as process `generation` at ring `epoch`. Only what
     * members say counts: a probe from anyone else changes nothing here and
     * makes this node ask nobody for anything.
     */
    const heard = (address: string, generation: number, epoch: number) =>
      Effect.suspend(() => {
        const member = table.get(address)
        if (member === undefined || address === self) return Effect.void
        if (member.generation === generation) ring.onPeerEpoch(address, epoch)
        return announce([table.heardFrom(address, generation, nowMs())])
      })

    /** Members still taking part (self included): what gossip and suspicion scale with. */
    const clusterSize = () => table.probeable().length + 1
    const outgoing = () => gossip.take(config.gossipPerMessage, clusterSize())
    const message = (target: string, gossip: ReadonlyArray<MemberUpdate> = outgoing()): ProbeMessage => ({
      from: self,
      generation: ring.identity().generation,
      epoch: ring.epoch(),
      target,
      gossip
    })

    /** True when `target` answered a direct probe within PROBE_TIMEOUT; `gossip` rides along. */
    const probe = (target: string, gossip?: ReadonlyArray<MemberUpdate>): Effect.Effect<boolean> =>
      peers.ping(target, message(target, gossip)).pipe(
        Effect.timeout(probeTimeout),
        Effect.flatMap((ack) => Effect.zipRight(heard(target, ack.generation, ack.epoch), Effect.as(learn(ack.gossip, target), true))),
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
            Effect.tap((reply) => learn(reply.gossip, helper)),
            Effect.tap((reply) => (reply.ack ? announce([table.heardFrom(target, reply.generation, nowMs())]) : Effect.void)),
            Effect.map((reply) => reply.ack),
            Effect.orElseSucceed(() => false)
          ), { concurrency: "unbounded" })
        return answers.some((ack) => ack)
      })

    let order: Array<string> = []
    const nextTarget = Effect.gen(function*() {
      const probeable = table.probeable()
      const checking = [...toCheck].find((m) => probeable.includes(m))
      if (checking !== undefined) {
        toCheck.delete(checking)
        return checking
      }
      toCheck.clear()
      order = order.filter((m) => probeable.includes(m))
      if (order.length === 0) order = [...(yield* Random.shuffle(probeable))]
      return order.shift()
    })

    const rotation = Effect.gen(function*() {
      const target = yield* nextTarget
      if (target !== undefined && !(yield* probe(target)) && !(yield* probeIndirectly(target))) {
        yield* announce([table.suspect(target, nowMs())])
      }
      const timeoutMs = suspicionTimeoutMs(Duration.toMillis(config.probeInterval), config.suspicionMultiplier, clusterSize())
      yield* announce(table.expireSuspects(nowMs(), timeoutMs))
    })
    // Members held dead are pinged every period too (a direct ping, no verdict when it fails): one that
    // answers is alive again. Otherwise a verdict formed while this node was cut off would last until the
    // dead member happened to ping it, which it never does if it holds this node dead as well.
    const recheckDead = Effect.suspend(() =>
      // No gossip on these: a message to a member that is most likely gone would use up its retransmissions.
      Effect.forEach(table.dead(), (target) => probe(target, []), { concurrency: "unbounded", discard: true })
    )
    const protocolPeriod = Effect.all([rotation, recheckDead], { concurrency: "unbounded", discard: true })
    yield* Effect.forkScoped(backgroundLoop("membership", metrics, protocolPeriod, Schedule.spaced(config.probeInterval)))

    // Leaving: mark ourselves left and tell a few members directly (for their failure detectors only).
    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        gossip.enqueue(table.leave(nowMs()))
        const targets = Arr.take(table.probeable(), config.indirectProbes + 1)
        yield* Effect.forEach(targets, (target) => Effect.ignore(Effect.timeout(peers.ping(target, message(target)), probeTimeout)), {
          concurrency: "unbounded"
        })
      })
    )

    const liveness: Liveness = {
      reachable: (address) => {
        const status = table.get(address)?.status
        return status === "alive" || status === "suspect"
      },
      deadForMs: (address) => {
        const record = table.get(address)
        return record?.status === "dead" || record?.status === "left" ? nowMs() - record.changedAtMs : undefined
      }
    }

    return {
      self,
      /** Called once by the ring. */
      attach: (link: RingLink): void => {
        ring = link
      },
      /** Probes exactly these members (those the agreed ring names, with their generations). */
      track: (members: ReadonlyArray<MemberId>): void => table.track(members, nowMs()),
      liveness,
      /** Everyone tracked, self included, with status and incarnation. */
      members: (): ReadonlyArray<MemberRecord> => table.members(),
      // The server side of the membership protocol.
      onPing: (incoming: ProbeMessage): Effect.Effect<ProbeAck> =>
        Effect.gen(function*() {
          yield* heard(incoming.from, incoming.generation, incoming.epoch)
          yield* learn(incoming.gossip, incoming.from)
          return { generation: ring.identity().generation, epoch: ring.epoch(), gossip: outgoing() }
        }),
      onPingReq: (incoming: ProbeMessage): Effect.Effect<IndirectAck> =>
        Effect.gen(function*() {
          yield* heard(incoming.from, incoming.generation, incoming.epoch)
          yield* learn(incoming.gossip, incoming.from)
          const target = incoming.target
          const answer = yield* peers.ping(target, message(target)).pipe(Effect.timeout(probeTimeout), Effect.option)
          if (answer._tag === "None") return { ack: false, generation: 0, gossip: outgoing() }
          yield* heard(target, answer.value.generation, answer.value.epoch)
          return { ack: true, generation: answer.value.generation, gossip: outgoing() }
        })
    } as const
  })
}) {}
