import { Duration, Effect, Fiber, Option, Random, Runtime } from "effect"
import { Hlc } from "../clock/Hlc.js"
import * as V from "../clock/version.js"
import type { Version } from "../clock/version.js"
import { NodeConfig, selfAddress } from "../config/NodeConfig.js"
import { PeerClient } from "../peer/PeerClient.js"
import type { PeerError } from "../peer/PeerError.js"
import type { ConfigView } from "../placement/ConfigView.js"
import { Ring } from "../placement/Ring.js"
import type { Value, Write } from "../store/entry.js"
import { Metrics } from "../telemetry/Metrics.js"
import { Telemetry } from "../telemetry/Telemetry.js"
import { annotateSpan, currentSpan } from "../telemetry/traceContext.js"
import { type Consistency, required as requiredFor } from "./consistency.js"
import { LocalReplica } from "./LocalReplica.js"
import { screened } from "./replicaAnswer.js"
import type { ReplicaReply, ReplicaRequest } from "../protocol/replica.js"
import { type Fenced, type ReadVerdict, ReadRound, type ReadWinner, WITHHELD, type Withheld, type WriteVerdict, WriteRound } from "./quorum.js"
import { ReplicaSpans } from "./replicaSpans.js"
import { NotServing, QuorumUnavailable, type ReplicationError, RingMoved, WriteContention } from "./ReplicationError.js"
import { settled } from "./settle.js"

/** A value as a read returns it. */
export interface FoundValue {
  readonly value: Value
  readonly version: Version
  /** Wall-clock ms of expiry; 0 = never. */
  readonly expiresAtMs: number
}

/** The outcome of a write or deletion. */
export interface WriteOutcome {
  readonly version: Version
  /** Whether a live value was replaced or removed. */
  readonly existed: boolean
}

/** Rounds tolerated before a request gives up: each stale write retries above what it met. */
export const MAX_ATTEMPTS = 16
/** Newer rings a request follows at most before it gives up (each a refusal by a replica on a newer epoch). */
export const MAX_EPOCH_HOPS = 4

/** One replica set of a key a write must reach `required` of. */
interface WriteGroup {
  readonly replicas: ReadonlyArray<string>
  readonly required: number
}

type Reply = ReplicaReply | PeerError

const ignoreReply = () => undefined

/** Whether a read answer is older than `version` (so that replica needs repair). */
const isBehind = (reply: Reply, version: Version): boolean =>
  reply._tag === "Absent" || ((reply._tag === "Found" || reply._tag === "Deleted") && V.compare(reply.version, version) < 0)

/** Pause before retrying a write that lost to a concurrent newer one: spreads competing retries. */
const contentionBackoff = (attempt: number) =>
  Effect.flatMap(Random.nextIntBetween(0, 2 + attempt * 2), (ms) => (ms === 0 ? Effect.void : Effect.sleep(Duration.millis(ms))))

/**
 * The coordinator every client request goes through. It sends a write with
 * a fresh HLC version to all of the key's replicas and succeeds once W have
 * applied it; it reads from the replicas, takes the newest answer, and when
 * the answers disagree writes the winner back to a quorum before answering
 * (ABD), so QUORUM reads and writes are linearizable. The local replica is a
 * direct call; remote ones go through `PeerClient`, batched per peer.
 */
export class Replication extends Effect.Service<Replication>()("cache/replication/Coordinator", {
  scoped: Effect.gen(function*() {
    const config = yield* NodeConfig
    const ring = yield* Ring
    const local = yield* LocalReplica
    const peers = yield* PeerClient
    const hlc = yield* Hlc
    const metrics = yield* Metrics
    const { tracing } = yield* Telemetry
    const clock = yield* Effect.clock
    const spanFactory = { tracer: yield* Effect.tracer, clock }
    const self = selfAddress(config)
    const maxClockOffsetMs = Duration.toMillis(config.maxClockOffset)

    /** Spans for the replica calls of the current client call: only when it is traced and sampled. */
    const replicaSpans = (op: "read" | "write"): Effect.Effect<ReplicaSpans | undefined> =>
      tracing
        ? Effect.map(currentSpan, (span) => span?.sampled ? new ReplicaSpans(spanFactory, span, op) : undefined)
        : Effect.succeed(undefined)
    /** Records the quorum's outcome on the client call's span. */
    const outcome = (attributes: Record<string, unknown>): Effect.Effect<void> =>
      tracing ? annotateSpan(attributes) : Effect.void

    /**
     * The configuration to route with: only a member of an agreed ring
     * coordinates (a node still forming or joining, or one that has left,
     * cannot know which replicas hold what).
     */
    const routing = (): ConfigView | NotServing => {
      const view = ring.current()
      const status = ring.status()
      if (view === undefined) return new NotServing({ reason: "forming: no ring agreed yet" })
      if (status === "joining") return new NotServing({ reason: `joining: not yet a member of the ring agreed at epoch ${view.epoch}` })
      if (status === "left") return new NotServing({ reason: "this node has left the ring" })
      return view
    }

    /**
     * Moves to the ring a replica refused with (learning it from that
     * replica), before trying again: the configuration to route with next.
     */
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

    const send = (address: string, request: ReplicaRequest, onReply: (reply: Reply) => void, spans?: ReplicaSpans) => {
      if (spans === undefined) {
        if (address === self) onReply(local.handleOwn(request))
        else peers.replicate(address, request, screen(onReply))
        return
      }
      const traced = spans.send(address, address === self, request)
      const answered = (reply: Reply) => {
        spans.answered(address, reply)
        onReply(reply)
      }
      if (address === self) answered(local.handleOwn(traced))
      else peers.replicate(address, traced, screen(answered))
    }

    /**
     * Sends one write to every replica of `groups` and settles as soon as
     * the round has a verdict. The local copy is applied only once a remote
     * replica has applied the attempt (or at once when one ack is enough): an
     * attempt that every remote refuses as stale then exists nowhere and can
     * be retried at a newer version without ever being seen twice.
     */
    const writeRound = (key: string, groups: ReadonlyArray<WriteGroup>, write: Write, epoch: number, spans?: ReplicaSpans) =>
      settled<WriteVerdict>((settle) => {
        const round = new WriteRound(groups)
        const targets = groups.length === 1 ? groups[0]!.replicas : [...new Set(groups.flatMap((g) => g.replicas))]
        let decided = false
        const request: ReplicaRequest = { key, write, epoch }
        const record = (address: string, reply: Reply | Withheld) => {
          if (decided) return
          const verdict = round.record(address, reply)
          if (verdict !== undefined) {
            decided = true
            settle(verdict)
          }
        }
        const remotes = targets.filter((address) => address !== self)
        let localPending = remotes.length < targets.length
        const applyLocal = () => {
          if (!localPending) return
          localPending = false
          send(self, request, (reply) => record(self, reply), spans)
        }
        let unanswered = remotes.length
        for (const address of remotes) {
          send(address, request, (reply) => {
            unanswered--
            record(address, reply)
            if (reply._tag === "Applied") applyLocal()
            else if (unanswered === 0 && localPending) {
              localPending = false
              record(self, WITHHELD)
            }
          }, spans)
        }
        if (groups.every((g) => g.required <= 1) || remotes.length === 0) applyLocal()
      })

    const winnerWrite = (winner: ReadWinner): Write =>
      winner._tag === "Found"
        ? { version: winner.version, value: winner.value, expiresAtMs: winner.expiresAtMs }
        : { version: winner.version, value: undefined, expiresAtMs: 0 }

    // Reads waiting on a replica beyond their first quorum, and when to ask the rest.
    // One sweeper fiber runs while any is waiting (none at all on an idle node).
    const speculating = new Set<{ readonly dueMs: number; readonly askRest: () => void }>()
    const speculateAfterMs = Duration.toMillis(config.speculativeReadDelay)
    const sweepEvery = Duration.millis(Math.max(1, speculateAfterMs / 5))
    const sweep = Effect.sync(() => {
      const now = clock.unsafeCurrentTimeMillis()
      for (const pending of speculating) {
        if (pending.dueMs > now) continue
        speculating.delete(pending)
        pending.askRest()
      }
      return speculating.size > 0
    })
    const sweeper = Effect.repeat(Effect.zipRight(Effect.sleep(sweepEvery), sweep), { while: (more) => more }).pipe(
      Effect.ensuring(Effect.sync(() => (sweeping = undefined)))
    )
    const runFork = Runtime.runFork(yield* Effect.runtime<never>())
    let sweeping: Fiber.RuntimeFiber<boolean> | undefined
    const awaitSpeculation = (pending: { readonly dueMs: number; readonly askRest: () => void }) => {
      speculating.add(pending)
      sweeping ??= runFork(sweeper)
    }
    yield* Effect.addFinalizer(() => (sweeping === undefined ? Effect.void : Fiber.interrupt(sweeping)))
    // Spreads first reads over the remote replicas.
    let turn = 0

    /**
     * Reads from a quorum of replicas first: this node when it is one (a
     * direct call), then remote ones in turn. Another replica is asked when
     * one of those fails or does not vote, and every other one when the
     * quorum has not answered within SPECULATIVE_READ_DELAY. Settles at
     * `required` answers. Answers that arrive later and are behind the
     * winner get the winner written to them in the background (read
     * repair), so replicas converge.
     */
    const readRound = (key: string, replicas: ReadonlyArray<string>, required: number, epoch: number, spans?: ReplicaSpans) =>
      settled<ReadVerdict>((settle) => {
        const round = new ReadRound(replicas.length, required, clock.unsafeCurrentTimeMillis() + maxClockOffsetMs)
        let verdict: ReadVerdict | undefined
        const request: ReplicaRequest = { key, write: undefined, epoch }
        // A ONE read needs one answer: this node's own, when it is a replica, costs no message at all.
        const first = config.readFanout === "all" && required > 1 ? replicas.length : required
        // Asking every replica at once, their order does not matter (the local answer comes first anyway).
        const order = first === replicas.length ? replicas : readOrder(replicas)
        let asked = 0
        let waiting: { readonly dueMs: number; readonly askRest: () => void } | undefined
        const ask = () => {
          const address = order[asked++]
          if (address === undefined) return
          send(address, request, (reply) => {
            if (verdict === undefined) {
              verdict = round.record(address, reply)
              if (verdict !== undefined) {
                if (waiting !== undefined) speculating.delete(waiting)
                settle(verdict)
              } else if (reply._tag !== "Found" && reply._tag !== "Deleted" && reply._tag !== "Absent") {
                ask() // this one cannot count: ask another now
              }
            } else if (verdict._tag === "Read" && verdict.winner !== undefined && isBehind(reply, verdict.winner.version)) {
              metrics.readRepair()
              send(address, { key, write: winnerWrite(verdict.winner), epoch }, ignoreReply)
            }
          }, spans)
        }
        while (asked < first && asked < order.length) ask()
        if (verdict === undefined && asked < order.length) {
          waiting = {
            dueMs: clock.unsafeCurrentTimeMillis() + speculateAfterMs,
            askRest: () => {
              if (verdict === undefined) metrics.speculativeRead()
              while (verdict === undefined && asked < order.length) ask()
            }
          }
          awaitSpeculation(waiting)
        }
      })

    /** The replicas in the order a read asks them: this node first, then the remote ones rotated. */
    const readOrder = (replicas: ReadonlyArray<string>): ReadonlyArray<string> => {
      const remotes = replicas.filter((address) => address !== self)
      const start = remotes.length === 0 ? 0 : turn++ % remotes.length
      const rotated = start === 0 ? remotes : [...remotes.slice(start), ...remotes.slice(0, start)]
      return remotes.length < replicas.length ? [self, ...rotated] : rotated
    }

    /** A read or write that cannot reach `required` replicas: counted, recorded on its span, UNAVAILABLE. */
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

    /** The replica sets a write of this key needs on `view`, each with what `consistency` requires of it. */
    const writeGroups = (view: ConfigView, key: string, consistency: Consistency): ReadonlyArray<WriteGroup> =>
      view.writeGroups(ring.hash(key)).map((replicas) => ({ replicas, required: requiredFor(consistency, replicas.length) }))

    /** Writes a value, or deletes when `value` is undefined, at a fresh version. */
    const write = (
      key: string,
      value: Value | undefined,
      expiresAtMs: number,
      consistency: Consistency
    ): Effect.Effect<WriteOutcome, ReplicationError> => {
      const view = routing()
      if (view instanceof NotServing) return Effect.fail(view)
      const first = (spans: ReplicaSpans | undefined) => {
        const version = hlc.next()
        const groups = writeGroups(view, key, consistency)
        return Effect.flatMap(writeRound(key, groups, { version, value, expiresAtMs }, view.epoch, spans), (verdict) =>
          // The common case, one round, without the retry loop.
          verdict._tag === "Written"
            ? writeDone(version, verdict.existed, groups[0]!.required, 1)
            : writeRetries(key, value, expiresAtMs, consistency, view, spans, version, verdict))
      }
      return tracing ? Effect.flatMap(replicaSpans("write"), first) : first(undefined)
    }

    /** What a successful write answers; its span records the outcome. */
    const writeDone = (version: Version, existed: boolean, required: number, attempts: number): Effect.Effect<WriteOutcome> => {
      const done = Effect.succeed({ version, existed })
      return tracing
        ? Effect.zipRight(outcome({ "cache.quorum.outcome": "written", "cache.quorum.required": required, "cache.attempts": attempts }), done)
        : done
    }

    /**
     * After a first round that did not write: retry stale attempts above
     * what they met, follow a newer ring with the same version, or fail.
     */
    const writeRetries = (
      key: string,
      value: Value | undefined,
      expiresAtMs: number,
      consistency: Consistency,
      firstView: ConfigView,
      spans: ReplicaSpans | undefined,
      firstVersion: Version,
      firstVerdict: WriteVerdict
    ): Effect.Effect<WriteOutcome, ReplicationError> =>
      Effect.gen(function*() {
        let version = firstVersion
        let verdict = firstVerdict
        let view = firstView
        let hops = 0
        // Whether this version landed (or may have) anywhere in an earlier round: then it may have been
        // seen, and must never be retried at a newer version (the same write would appear twice).
        let landed = false
        for (let attempt = 0;; attempt++) {
          const groups = writeGroups(view, key, consistency)
          if (verdict._tag === "Written") return yield* writeDone(version, verdict.existed, groups[0]!.required, attempt + 1)
          if (verdict._tag === "Unavailable") return yield* unavailable("write", verdict.required, verdict.acked, verdict.replicas)
          if (attempt + 1 >= MAX_ATTEMPTS) return yield* contended(MAX_ATTEMPTS)
          if (verdict._tag === "Fenced") {
            landed ||= verdict.landed
            view = yield* follow(verdict, hops++)
          } else {
            hlc.observe(verdict.newest)
            if (verdict._tag === "Superseded" || landed) return yield* contended(attempt + 1)
            metrics.staleRetry()
            yield* contentionBackoff(attempt)
            version = hlc.next()
          }
          verdict = yield* writeRound(key, writeGroups(view, key, consistency), { version, value, expiresAtMs }, view.epoch, spans)
        }
      })

    /**
     * During a movement a value must be held by a quorum of the previous and
     * of the new replica set before a read returns it: reads use one set,
     * and a coordinator still on the epoch before reads the other. Answers
     * that agree within one set prove nothing about the other, so the
     * winner goes through the write-back, which counts the holders it knows.
     */
    const mustSpread = (view: ConfigView, key: string, winner: ReadWinner | undefined): boolean =>
      winner !== undefined && view.writeGroups(ring.hash(key)).length > 1

    /** What a read answers: the winner, or none for a deletion or nothing. */
    const found = (winner: ReadWinner | undefined): Option.Option<FoundValue> =>
      winner?._tag === "Found"
        ? Option.some({ value: winner.value, version: winner.version, expiresAtMs: winner.expiresAtMs })
        : Option.none()

    const read = (key: string, consistency: Consistency): Effect.Effect<Option.Option<FoundValue>, ReplicationError> => {
      const view = routing()
      if (view instanceof NotServing) return Effect.fail(view)
      const replicas = view.readReplicas(ring.hash(key))
      const required = requiredFor(consistency, replicas.length)
      const first = (spans: ReplicaSpans | undefined) =>
        Effect.flatMap(readRound(key, replicas, required, view.epoch, spans), (verdict) => {
          // The common case: a quorum agrees on the newest version (or on nothing).
          if (verdict._tag !== "Read" || verdict.forgotten || verdict.needsWriteBack || mustSpread(view, key, verdict.winner)) {
            return readRetries(key, consistency, view, spans, verdict)
          }
          if (verdict.winner !== undefined) hlc.observe(verdict.winner.version)
          const answer = Effect.succeed(found(verdict.winner))
          return tracing
            ? Effect.zipRight(outcome({ "cache.quorum.outcome": "read", "cache.quorum.required": required, "cache.attempts": 1 }), answer)
            : answer
        })
      return tracing ? Effect.flatMap(replicaSpans("read"), first) : first(undefined)
    }

    /**
     * After a first round that needs more: a write-back of the winner, a
     * tombstone for a forgotten key, another round, or the newer ring a
     * replica refused with.
     */
    const readRetries = (
      key: string,
      consistency: Consistency,
      firstView: ConfigView,
      spans: ReplicaSpans | undefined,
      firstVerdict: ReadVerdict
    ): Effect.Effect<Option.Option<FoundValue>, ReplicationError> =>
      Effect.gen(function*() {
        let verdict = firstVerdict
        let view = firstView
        let hops = 0
        const again = () => {
          const replicas = view.readReplicas(ring.hash(key))
          return readRound(key, replicas, requiredFor(consistency, replicas.length), view.epoch, spans)
        }
        for (let attempt = 0;; attempt++) {
          if (verdict._tag === "Unavailable") return yield* unavailable("read", verdict.required, verdict.acked, verdict.replicas)
          if (verdict._tag === "Fenced") {
            if (attempt + 1 >= MAX_ATTEMPTS) return yield* contended(MAX_ATTEMPTS)
            view = yield* follow(verdict, hops++)
            verdict = yield* again()
            continue
          }
          const winner = verdict.winner
          /** A replica may have forgotten a newer version: answer "not found" and make it stick. */
          const forgottenRead = Effect.gen(function*() {
            metrics.forgottenRead()
            yield* outcome({ "cache.quorum.outcome": "forgotten" })
            yield* write(key, undefined, 0, consistency)
            return Option.none<FoundValue>()
          })
          if (verdict.forgotten) return yield* forgottenRead
          if (winner === undefined) {
            yield* outcome({ "cache.quorum.outcome": "read", "cache.attempts": attempt + 1 })
            return Option.none()
          }
          hlc.observe(winner.version)
          if (verdict.needsWriteBack || mustSpread(view, key, winner)) {
            metrics.writeBack()
            // The answers disagree: a quorum of every write set must hold the winner before anyone is told about it.
            const holders = verdict.holders
            const groups = writeGroups(view, key, consistency).map((group) => ({
              replicas: group.replicas.filter((address) => !holders.includes(address)),
              required: group.required - group.replicas.filter((address) => holders.includes(address)).length
            }))
            const written = groups.every((g) => g.required <= 0)
              ? ({ _tag: "Written", existed: true } as const)
              : yield* writeRound(key, groups.map((g) => ({ replicas: g.replicas, required: Math.max(0, g.required) })), winnerWrite(winner), view.epoch)
            if (written._tag === "Unavailable") return yield* unavailable("read", written.required, written.acked, written.replicas)
            // Refused at the winner's very version: those replicas dropped exactly it. A value they
            // evicted is a forgotten read; a deletion they collected (every replica held it) stands.
            if ((written._tag === "Stale" || written._tag === "Superseded") && V.compare(written.newest, winner.version) === 0) {
              if (winner._tag === "Found") return yield* forgottenRead
              yield* outcome({ "cache.quorum.outcome": "read", "cache.attempts": attempt + 1 })
              return Option.none()
            }
            if (written._tag !== "Written") {
              if (attempt + 1 >= MAX_ATTEMPTS) return yield* contended(MAX_ATTEMPTS)
              if (written._tag === "Fenced") {
                view = yield* follow(written, hops++)
              } else {
                // A newer write raced with this read: read again.
                hlc.observe(written.newest)
              }
              verdict = yield* again()
              continue
            }
          }
          yield* outcome({
            "cache.quorum.outcome": verdict.needsWriteBack ? "written_back" : "read",
            "cache.attempts": attempt + 1
          })
          return found(winner)
        }
      })

    return { read, write } as const
  })
}) {}
