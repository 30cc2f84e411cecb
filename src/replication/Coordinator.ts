import { Duration, Effect, Option, Random, Schedule } from "effect"
import { Hlc } from "../clock/Hlc.js"
import * as V from "../clock/version.js"
import type { Version } from "../clock/version.js"
import { NodeConfig } from "../config/NodeConfig.js"
import { formatHostPort } from "../config/parse.js"
import { PeerClient } from "../peer/PeerClient.js"
import type { PeerError } from "../peer/PeerError.js"
import type { HashRing } from "../ring/HashRing.js"
import { Ring } from "../ring/Ring.js"
import type { Value, Write } from "../store/entry.js"
import { Metrics } from "../telemetry/Metrics.js"
import { Telemetry } from "../telemetry/Telemetry.js"
import { annotateSpan, currentSpan } from "../telemetry/traceContext.js"
import { type Consistency, required as requiredFor } from "./consistency.js"
import { LocalReplica } from "./LocalReplica.js"
import type { ReplicaReply, ReplicaRequest } from "./protocol.js"
import { type ReadVerdict, ReadRound, type ReadWinner, WITHHELD, type Withheld, type WriteVerdict, WriteRound } from "./quorum.js"
import { ReplicaSpans } from "./replicaSpans.js"
import { QuorumUnavailable, type ReplicationError, WriteContention } from "./ReplicationError.js"

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

/** How often `drained` looks again. */
const DRAIN_POLL = Duration.millis(5)

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
  effect: Effect.gen(function*() {
    const config = yield* NodeConfig
    const ring = yield* Ring
    const local = yield* LocalReplica
    const peers = yield* PeerClient
    const hlc = yield* Hlc
    const metrics = yield* Metrics
    const { tracing } = yield* Telemetry
    const spanFactory = { tracer: yield* Effect.tracer, clock: yield* Effect.clock }
    const self = formatHostPort(config.addr)

    /** Spans for the replica calls of the current client call: only when it is traced and sampled. */
    const replicaSpans = (op: "read" | "write"): Effect.Effect<ReplicaSpans | undefined> =>
      tracing
        ? Effect.map(currentSpan, (span) => span?.sampled ? new ReplicaSpans(spanFactory, span, op) : undefined)
        : Effect.succeed(undefined)
    /** Records the quorum's outcome on the client call's span. */
    const outcome = (attributes: Record<string, unknown>): Effect.Effect<void> =>
      tracing ? annotateSpan(attributes) : Effect.void

    // Operations in flight per ring snapshot they were routed with, so that a
    // pull can wait until nothing is still being written the old way.
    const inFlight = new Map<HashRing, number>()
    const tracked = <A, E>(use: (snapshot: HashRing) => Effect.Effect<A, E>): Effect.Effect<A, E> =>
      Effect.suspend(() => {
        const snapshot = ring.current()
        inFlight.set(snapshot, (inFlight.get(snapshot) ?? 0) + 1)
        return Effect.ensuring(
          use(snapshot),
          Effect.sync(() => {
            const left = inFlight.get(snapshot)! - 1
            if (left === 0) inFlight.delete(snapshot)
            else inFlight.set(snapshot, left)
          })
        )
      })
    const busyWith = (routedWith: (snapshot: HashRing) => boolean) => [...inFlight.keys()].some(routedWith)
    /** Waits until no operation routed with a ring matching `routedWith` is in flight. */
    const drained = (routedWith: (snapshot: HashRing) => boolean): Effect.Effect<void> =>
      Effect.repeat(Effect.sync(() => busyWith(routedWith)), {
        while: (busy) => busy,
        schedule: Schedule.spaced(DRAIN_POLL)
      }).pipe(Effect.asVoid)

    const send = (address: string, request: ReplicaRequest, onReply: (reply: Reply) => void, spans?: ReplicaSpans) => {
      if (spans === undefined) {
        if (address === self) onReply(local.handle(request))
        else peers.replicate(address, request, onReply)
        return
      }
      const traced = spans.send(address, address === self, request)
      const answered = (reply: Reply) => {
        spans.answered(address, reply)
        onReply(reply)
      }
      if (address === self) answered(local.handle(traced))
      else peers.replicate(address, traced, answered)
    }

    /**
     * Sends one write to `targets` and settles as soon as the round has a
     * verdict. The local copy is applied only once a remote replica has
     * applied the attempt (or at once when one ack is enough): an attempt
     * that every remote refuses as stale then exists nowhere and can be
     * retried at a newer version without ever being seen twice.
     */
    const writeRound = (key: string, targets: ReadonlyArray<string>, required: number, write: Write, spans?: ReplicaSpans) =>
      Effect.async<WriteVerdict>((resume) => {
        const round = new WriteRound(targets.length, required)
        let settled = false
        const request: ReplicaRequest = { key, write }
        const record = (reply: Reply | Withheld) => {
          if (settled) return
          const verdict = round.record(reply)
          if (verdict !== undefined) {
            settled = true
            resume(Effect.succeed(verdict))
          }
        }
        const remotes = targets.filter((address) => address !== self)
        let localPending = remotes.length < targets.length
        const applyLocal = () => {
          if (!localPending) return
          localPending = false
          send(self, request, record, spans)
        }
        let unanswered = remotes.length
        for (const address of remotes) {
          send(address, request, (reply) => {
            unanswered--
            record(reply)
            if (reply._tag === "Applied") applyLocal()
            else if (unanswered === 0 && localPending) {
              localPending = false
              record(WITHHELD)
            }
          }, spans)
        }
        if (required <= 1 || remotes.length === 0) applyLocal()
      })

    const winnerWrite = (winner: ReadWinner): Write =>
      winner._tag === "Found"
        ? { version: winner.version, value: winner.value, expiresAtMs: winner.expiresAtMs }
        : { version: winner.version, value: undefined, expiresAtMs: 0 }

    /**
     * Reads from every replica and settles at `required` answers. Answers
     * that arrive later and are behind the winner get the winner written to
     * them in the background (read repair), so replicas converge.
     */
    const readRound = (key: string, replicas: ReadonlyArray<string>, required: number, spans?: ReplicaSpans) =>
      Effect.async<ReadVerdict>((resume) => {
        const round = new ReadRound(replicas.length, required)
        let verdict: ReadVerdict | undefined
        const request: ReplicaRequest = { key, write: undefined }
        for (const address of replicas) {
          send(address, request, (reply) => {
            if (verdict === undefined) {
              verdict = round.record(address, reply)
              if (verdict !== undefined) resume(Effect.succeed(verdict))
            } else if (verdict._tag === "Read" && verdict.winner !== undefined && isBehind(reply, verdict.winner.version)) {
              metrics.readRepair()
              send(address, { key, write: winnerWrite(verdict.winner) }, ignoreReply)
            }
          }, spans)
        }
      })

    const unavailable = (required: number, acked: number, replicas: number) =>
      Effect.fail(new QuorumUnavailable({ required, acked, replicas }))

    const contended = (attempts: number) => {
      metrics.writeContention()
      return Effect.zipRight(
        outcome({ "cache.quorum.outcome": "contention", "cache.attempts": attempts }),
        Effect.fail(new WriteContention({ attempts }))
      )
    }

    /** Writes a value, or deletes when `value` is undefined, at a fresh version. */
    const write = (
      key: string,
      value: Value | undefined,
      expiresAtMs: number,
      consistency: Consistency
    ): Effect.Effect<WriteOutcome, ReplicationError> =>
      tracked((snapshot) => writeOn(snapshot, key, value, expiresAtMs, consistency))

    const writeOn = (
      snapshot: HashRing,
      key: string,
      value: Value | undefined,
      expiresAtMs: number,
      consistency: Consistency
    ): Effect.Effect<WriteOutcome, ReplicationError> =>
      Effect.gen(function*() {
        const replicas = snapshot.preferenceList(ring.hash(key))
        const required = requiredFor(consistency, replicas.length)
        const spans = yield* replicaSpans("write")
        for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
          const version = hlc.next()
          const verdict = yield* writeRound(key, replicas, required, { version, value, expiresAtMs }, spans)
          if (verdict._tag === "Written") {
            yield* outcome({ "cache.quorum.outcome": "written", "cache.quorum.required": required, "cache.attempts": attempt + 1 })
            return { version, existed: verdict.existed }
          }
          if (verdict._tag === "Unavailable") {
            metrics.quorumFailure("write")
            yield* outcome({ "cache.quorum.outcome": "unavailable", "cache.quorum.required": required, "cache.quorum.acks": verdict.acked })
            return yield* unavailable(required, verdict.acked, replicas.length)
          }
          hlc.observe(verdict.newest)
          if (verdict._tag === "Superseded") return yield* contended(attempt + 1)
          metrics.staleRetry()
          yield* contentionBackoff(attempt)
        }
        return yield* contended(MAX_ATTEMPTS)
      })

    const read = (key: string, consistency: Consistency): Effect.Effect<Option.Option<FoundValue>, ReplicationError> =>
      tracked((snapshot) => readOn(snapshot, key, consistency))

    const readOn = (snapshot: HashRing, key: string, consistency: Consistency): Effect.Effect<Option.Option<FoundValue>, ReplicationError> =>
      Effect.gen(function*() {
        const replicas = snapshot.preferenceList(ring.hash(key))
        const required = requiredFor(consistency, replicas.length)
        const spans = yield* replicaSpans("read")
        for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
          const verdict = yield* readRound(key, replicas, required, spans)
          if (verdict._tag === "Unavailable") {
            metrics.quorumFailure("read")
            yield* outcome({ "cache.quorum.outcome": "unavailable", "cache.quorum.required": required, "cache.quorum.acks": verdict.acked })
            return yield* unavailable(required, verdict.acked, replicas.length)
          }
          const winner = verdict.winner
          if (winner === undefined) {
            yield* outcome({ "cache.quorum.outcome": "read", "cache.quorum.required": required, "cache.attempts": attempt + 1 })
            return Option.none()
          }
          hlc.observe(winner.version)
          if (verdict.forgotten) {
            // A replica may have forgotten a newer version: answer "not found" and make it stick.
            metrics.forgottenRead()
            yield* outcome({ "cache.quorum.outcome": "forgotten", "cache.quorum.required": required })
            yield* writeOn(snapshot, key, undefined, 0, consistency)
            return Option.none()
          }
          if (verdict.needsWriteBack) {
            metrics.writeBack()
            // The answers disagree: a quorum must hold the winner before anyone is told about it.
            const targets = replicas.filter((address) => !verdict.holders.includes(address))
            const more = required - verdict.holders.length
            const written = more <= 0
              ? ({ _tag: "Written", existed: true } as const)
              : yield* writeRound(key, targets, more, winnerWrite(winner))
            if (written._tag === "Unavailable") {
              return yield* unavailable(required, verdict.holders.length + written.acked, replicas.length)
            }
            if (written._tag !== "Written") {
              hlc.observe(written.newest)
              continue // a newer write raced with this read: read again
            }
          }
          yield* outcome({
            "cache.quorum.outcome": verdict.needsWriteBack ? "written_back" : "read",
            "cache.quorum.required": required,
            "cache.attempts": attempt + 1
          })
          return winner._tag === "Found"
            ? Option.some({ value: winner.value, version: winner.version, expiresAtMs: winner.expiresAtMs })
            : Option.none()
        }
        return yield* Effect.fail(new WriteContention({ attempts: MAX_ATTEMPTS }))
      })

    return { read, write, drained } as const
  })
}) {}
