import { type Clock, Duration, Effect, Random } from "effect"
import type { Hlc } from "../clock/Hlc.js"
import type { NodeConfigShape } from "../config/NodeConfig.js"
import type { SendReplica } from "../peer/fanout.js"
import type { PeerClientShape } from "../peer/PeerClient.js"
import type { PeerError } from "../peer/PeerError.js"
import type { ConfigView } from "../placement/ConfigView.js"
import type { Ring } from "../placement/Ring.js"
import type { ReplicaReply, ReplicaRequest } from "../protocol/replica.js"
import type { Metrics } from "../telemetry/Metrics.js"
import { annotateSpan, currentSpan } from "../telemetry/traceContext.js"
import { type Consistency, required as requiredFor } from "./consistency.js"
import type { LocalReplica } from "./LocalReplica.js"
import type { Fenced } from "./quorum.js"
import { screened } from "./replicaAnswer.js"
import { ReplicaSpans } from "./replicaSpans.js"
import { NotServing, QuorumUnavailable, RingMoved, WriteContention } from "./ReplicationError.js"

/** Newer rings a request follows at most before it gives up (each a refusal by a replica on a newer epoch). */
export const MAX_EPOCH_HOPS = 4

type Reply = ReplicaReply | PeerError

/** One replica set of a key a write must reach `required` of. */
export interface WriteGroup {
  readonly replicas: ReadonlyArray<string>
  readonly required: number
}

/** What the read and write paths share: the services they use and the steps common to both. */
export interface Coordination {
  readonly self: string
  readonly config: NodeConfigShape
  readonly clock: Clock.Clock
  readonly ring: Ring
  readonly hlc: Hlc
  readonly metrics: Metrics
  /** Whether traces are exported at all: when not, no span work is done on the hot path. */
  readonly tracing: boolean
  /** Sends to a replica: a direct call for this node, the peers' transport otherwise; traced when `spans` is given. */
  readonly send: (address: string, request: ReplicaRequest, onReply: (reply: Reply) => void, spans?: ReplicaSpans) => void
  /** Spans for the replica calls of the current client call: only when it is traced and sampled. */
  readonly replicaSpans: (op: "read" | "write") => Effect.Effect<ReplicaSpans | undefined>
  /** Records the quorum's outcome on the client call's span. */
  readonly outcome: (attributes: Record<string, unknown>) => Effect.Effect<void>
  /** The configuration to route with, or why this node does not coordinate. */
  readonly routing: () => ConfigView | NotServing
  /** Moves to the ring a replica refused with, before trying again: the configuration to route with next. */
  readonly follow: (fenced: Fenced, hops: number) => Effect.Effect<ConfigView, RingMoved>
  /** The replica sets a write of this key needs on `view`, each with what `consistency` requires of it. */
  readonly writeGroups: (view: ConfigView, key: string, consistency: Consistency) => ReadonlyArray<WriteGroup>
  /** A read or write that cannot reach `required` replicas: counted, recorded on its span, UNAVAILABLE. */
  readonly unavailable: (op: "read" | "write", required: number, acked: number, replicas: number) => Effect.Effect<never, QuorumUnavailable>
  /** A request that lost every round to concurrent writes or moving rings. */
  readonly contended: (attempts: number) => Effect.Effect<never, WriteContention>
}

export interface CoordinationServices {
  readonly config: NodeConfigShape
  readonly ring: Ring
  readonly local: LocalReplica
  readonly peers: PeerClientShape
  readonly hlc: Hlc
  readonly metrics: Metrics
  readonly tracing: boolean
  readonly self: string
}

export const makeCoordination = (services: CoordinationServices) =>
  Effect.gen(function*() {
    const { config, ring, local, peers, hlc, metrics, tracing, self } = services
    const clock = yield* Effect.clock
    const spanFactory = { tracer: yield* Effect.tracer, clock }

    const replicaSpans = (op: "read" | "write"): Effect.Effect<ReplicaSpans | undefined> =>
      tracing
        ? Effect.map(currentSpan, (span) => span?.sampled ? new ReplicaSpans(spanFactory, span, op) : undefined)
        : Effect.succeed(undefined)
    const outcome = (attributes: Record<string, unknown>): Effect.Effect<void> =>
      tracing ? annotateSpan(attributes) : Effect.void

    /**
     * Only a member of an agreed ring coordinates (a node still forming or
     * joining, or one that has left, cannot know which replicas hold what).
     */
    const routing = (): ConfigView | NotServing => {
      const view = ring.current()
      const status = ring.status()
      if (view === undefined) return new NotServing({ reason: "forming: no ring agreed yet" })
      if (status === "joining") return new NotServing({ reason: `joining: not yet a member of the ring agreed at epoch ${view.epoch}` })
      if (status === "left") return new NotServing({ reason: "this node has left the ring" })
      return view
    }

    /** Learns the newer configuration from the replica that refused with it. */
    const follow = (fenced: Fenced, hops: number): Effect.Effect<ConfigView, RingMoved> => {
      metrics.fenced("coordinator")
      if (hops >= MAX_EPOCH_HOPS) return Effect.fail(new RingMoved({ reason: `${hops} newer epochs met` }))
      return Effect.timeoutOption(ring.learn(fenced.epoch, fenced.from), config.rpcTimeout).pipe(
        Effect.flatMap(() => {
          const next = routing()
          // Not "not serving": the request has reached replicas already, so its outcome is unknown.
          return next instanceof NotServing ? Effect.fail(new RingMoved({ reason: next.reason })) : Effect.succeed(next)
        })
      )
    }

    /** A remote answer whose version lies too far ahead of this clock counts as a refusal. */
    const screen = (onReply: (reply: Reply) => void) => (reply: Reply) => {
      if (reply._tag === "PeerUnavailable" || reply._tag === "PeerTimeout") return onReply(reply)
      const checked = screened(reply, hlc.problem)
      if (checked !== reply) metrics.refused(1)
      onReply(checked)
    }

    const untraced: SendReplica = (address, request, onReply) => {
      if (address === self) onReply(local.handleOwn(request))
      else peers.replicate(address, request, screen(onReply))
    }
    const send = (address: string, request: ReplicaRequest, onReply: (reply: Reply) => void, spans?: ReplicaSpans) => {
      if (spans === undefined) return untraced(address, request, onReply)
      const traced = spans.send(address, address === self, request)
      untraced(address, traced, (reply) => {
        spans.answered(address, reply)
        onReply(reply)
      })
    }

    const writeGroups = (view: ConfigView, key: string, consistency: Consistency): ReadonlyArray<WriteGroup> =>
      view.writeGroups(ring.hash(key)).map((replicas) => ({ replicas, required: requiredFor(consistency, replicas.length) }))

    const unavailable = (op: "read" | "write", required: number, acked: number, replicas: number) => {
      metrics.quorumFailure(op)
      return Effect.zipRight(
        outcome({ "cache.quorum.outcome": "unavailable", "cache.quorum.required": required, "cache.quorum.acks": acked }),
        Effect.fail(new QuorumUnavailable({ required, acked, replicas }))
      )
    }

    const contended = (attempts: number) => {
      metrics.writeContention()
      return Effect.zipRight(
        outcome({ "cache.quorum.outcome": "contention", "cache.attempts": attempts }),
        Effect.fail(new WriteContention({ attempts }))
      )
    }

    const coordination: Coordination = { self, config, clock, ring, hlc, metrics, tracing, send, replicaSpans, outcome, routing, follow, writeGroups, unavailable, contended }
    return coordination
  })

/** The pause before retrying a write that lost to a concurrent newer one: spreads competing retries. */
export const contentionBackoff = (attempt: number) =>
  Effect.flatMap(Random.nextIntBetween(0, 2 + attempt * 2), (ms) => (ms === 0 ? Effect.void : Effect.sleep(Duration.millis(ms))))
