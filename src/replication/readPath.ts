import { Duration, Effect, Exit, type Fiber, Option } from "effect"
import * as V from "../clock/version.js"
import type { Version } from "../clock/version.js"
import type { ConfigView } from "../placement/ConfigView.js"
import type { ReplicaRequest } from "../protocol/replica.js"
import type { Value } from "../store/entry.js"
import type { Coordination } from "./coordination.js"
import { type Consistency, required as requiredFor } from "./consistency.js"
import { MAX_ATTEMPTS, type WritePath } from "./writePath.js"
import { type ReadVerdict, ReadRound, type ReadWinner } from "./quorum.js"
import { ReadFanout, winnerWrite } from "./readFanout.js"
import type { ReplicaSpans } from "./replicaSpans.js"
import { NotServing, type ReplicationError } from "./ReplicationError.js"
import { settled } from "./settle.js"
import type { makeSpeculation } from "./speculation.js"

/** A value as a read returns it. */
export interface FoundValue {
  readonly value: Value
  readonly version: Version
  /** Wall-clock ms of expiry; 0 = never. */
  readonly expiresAtMs: number
}

type Speculation = Effect.Effect.Success<ReturnType<typeof makeSpeculation>>

const ignoreReply = () => undefined

/** What a read answers: the winner, or none for a deletion or nothing. */
const found = (winner: ReadWinner | undefined): Option.Option<FoundValue> =>
  winner?._tag === "Found"
    ? Option.some({ value: winner.value, version: winner.version, expiresAtMs: winner.expiresAtMs })
    : Option.none()

/**
 * The read path: the newest answer of R replicas; when the answers
 * disagree, the winner is written back to a quorum before anyone is told
 * about it (ABD), so QUORUM reads and writes are linearizable.
 */
export const makeReadPath = (
  c: Coordination,
  writes: WritePath,
  speculation: Speculation,
  /** Runs what `readNow` continues in a fiber. */
  runFork: <A, E>(effect: Effect.Effect<A, E>) => Fiber.RuntimeFiber<A, E>
) => {
  const { config, hlc, metrics, ring, tracing } = c
  const maxClockOffsetMs = Duration.toMillis(config.maxClockOffset)
  // Spreads first reads over the remote replicas.
  let turn = 0

  /** The replicas in the order a read asks them: this node first, then the remote ones rotated. */
  const readOrder = (replicas: ReadonlyArray<string>): ReadonlyArray<string> => {
    const remotes = replicas.filter((address) => address !== c.self)
    const start = remotes.length === 0 ? 0 : turn++ % remotes.length
    const rotated = start === 0 ? remotes : [...remotes.slice(start), ...remotes.slice(0, start)]
    return remotes.length < replicas.length ? [c.self, ...rotated] : rotated
  }

  /**
   * Reads from a quorum of replicas first (in `ReadFanout`'s order), and
   * settles at `required` answers; later answers behind the winner get it
   * written back in the background (read repair).
   */
  const startRound = (
    key: string,
    replicas: ReadonlyArray<string>,
    required: number,
    epoch: number,
    spans: ReplicaSpans | undefined,
    settle: (verdict: ReadVerdict) => void
  ): void => {
    // A ONE read needs one answer: this node's own, when it is a replica, costs no message at all.
    const first = config.readFanout === "all" && required > 1 ? replicas.length : required
    // Asking every replica at once, their order does not matter (the local answer comes first anyway).
    const order = first === replicas.length ? replicas : readOrder(replicas)
    const fan = new ReadFanout(order, first, new ReadRound(replicas.length, required, c.clock.unsafeCurrentTimeMillis() + maxClockOffsetMs))
    const request: ReplicaRequest = { key, write: undefined, epoch }
    let waiting: ReturnType<Speculation["schedule"]> | undefined
    const askDue = () => {
      for (let address = fan.next(); address !== undefined; address = fan.next()) ask(address)
    }
    const ask = (address: string) =>
      c.send(address, request, (reply) => {
        const step = fan.answered(address, reply)
        if (step === undefined) return askDue()
        if (step._tag === "Settled") {
          if (waiting !== undefined) speculation.cancel(waiting)
          return settle(step.verdict)
        }
        metrics.readRepair()
        c.send(address, { key, write: step.write, epoch }, ignoreReply)
      }, spans)
    askDue()
    if (fan.waiting()) {
      waiting = speculation.schedule(() => {
        if (!fan.speculate()) return
        metrics.speculativeRead()
        askDue()
      })
    }
  }
  const readRound = (key: string, replicas: ReadonlyArray<string>, required: number, epoch: number, spans?: ReplicaSpans) =>
    settled<ReadVerdict>((settle) => startRound(key, replicas, required, epoch, spans, settle))

  /**
   * During a movement a value must be held by a quorum of the previous and
   * of the new replica set before a read returns it: reads use one set,
   * and a coordinator still on the epoch before reads the other. Answers
   * that agree within one set prove nothing about the other, so the
   * winner goes through the write-back, which counts the holders it knows.
   */
  const mustSpread = (view: ConfigView, key: string, winner: ReadWinner | undefined): boolean =>
    winner !== undefined && view.writeGroups(ring.hash(key)).length > 1

  /** Whether a first round's verdict is the answer (a quorum agrees on the newest version, or on nothing) or needs more (`readRetries`). */
  const answers = (verdict: ReadVerdict, view: ConfigView, key: string): verdict is ReadVerdict & { readonly _tag: "Read" } =>
    verdict._tag === "Read" && !verdict.forgotten && !verdict.needsWriteBack && !mustSpread(view, key, verdict.winner)

  const read = (key: string, consistency: Consistency): Effect.Effect<Option.Option<FoundValue>, ReplicationError> => {
    const view = c.routing()
    if (view instanceof NotServing) return Effect.fail(view)
    const replicas = view.readReplicas(ring.hash(key))
    const required = requiredFor(consistency, replicas.length)
    const first = (spans: ReplicaSpans | undefined) =>
        Effect.flatMap(readRound(key, replicas, required, view.epoch, spans), (verdict) => {
          if (!answers(verdict, view, key)) return readRetries(key, consistency, view, spans, verdict)
          if (verdict.winner !== undefined) hlc.observe(verdict.winner.version)
          const answer = Effect.succeed(found(verdict.winner))
          return tracing
            ? Effect.zipRight(c.outcome({ "cache.quorum.outcome": "read", "cache.quorum.required": required, "cache.attempts": 1 }), answer)
            : answer
        })
    return tracing ? Effect.flatMap(c.replicaSpans("read"), first) : first(undefined)
  }

  /**
   * `read` without tracing, as a callback: the first round runs from the
   * replicas' callbacks with no fiber at all, and only a round that needs
   * more continues in one (`readRetries`). A fiber that waits for a remote
   * answer costs more than the rest of the coordinator's work on a read.
   */
  const readNow = (key: string, consistency: Consistency, done: (exit: Exit.Exit<Option.Option<FoundValue>, ReplicationError>) => void): void => {
    const view = c.routing()
    if (view instanceof NotServing) return done(Exit.fail(view))
    const replicas = view.readReplicas(ring.hash(key))
    startRound(key, replicas, requiredFor(consistency, replicas.length), view.epoch, undefined, (verdict) => {
      if (!answers(verdict, view, key)) return runFork(readRetries(key, consistency, view, undefined, verdict)).addObserver(done)
      if (verdict.winner !== undefined) hlc.observe(verdict.winner.version)
      done(Exit.succeed(found(verdict.winner)))
    })
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
        if (verdict._tag === "Unavailable") return yield* c.unavailable("read", verdict.required, verdict.acked, verdict.replicas)
        if (verdict._tag === "Fenced") {
          if (attempt + 1 >= MAX_ATTEMPTS) return yield* c.contended(MAX_ATTEMPTS)
          view = yield* c.follow(verdict, hops++)
          verdict = yield* again()
          continue
        }
        const winner = verdict.winner
        /** A replica may have forgotten a newer version: answer "not found" and make it stick. */
        const forgottenRead = Effect.gen(function*() {
          metrics.forgottenRead()
          yield* c.outcome({ "cache.quorum.outcome": "forgotten" })
          yield* writes.write(key, undefined, 0, consistency)
          return Option.none<FoundValue>()
        })
        if (verdict.forgotten) return yield* forgottenRead
        if (winner === undefined) {
          yield* c.outcome({ "cache.quorum.outcome": "read", "cache.attempts": attempt + 1 })
          return Option.none()
        }
        hlc.observe(winner.version)
        if (verdict.needsWriteBack || mustSpread(view, key, winner)) {
          metrics.writeBack()
          // The answers disagree: a quorum of every write set must hold the winner before anyone is told about it.
          const holders = verdict.holders
          const groups = c.writeGroups(view, key, consistency).map((group) => ({
            replicas: group.replicas.filter((address) => !holders.includes(address)),
            required: group.required - group.replicas.filter((address) => holders.includes(address)).length
          }))
          const written = groups.every((g) => g.required <= 0)
            ? ({ _tag: "Written", existed: true } as const)
            : yield* writes.writeRound(key, groups.map((g) => ({ replicas: g.replicas, required: Math.max(0, g.required) })), winnerWrite(winner), view.epoch)
          if (written._tag === "Unavailable") return yield* c.unavailable("read", written.required, written.acked, written.replicas)
          // Refused at the winner's very version: those replicas dropped exactly it. A value they
          // evicted is a forgotten read; a deletion they collected (every replica held it) stands.
          if ((written._tag === "Stale" || written._tag === "Superseded") && V.compare(written.newest, winner.version) === 0) {
            if (winner._tag === "Found") return yield* forgottenRead
            yield* c.outcome({ "cache.quorum.outcome": "read", "cache.attempts": attempt + 1 })
            return Option.none()
          }
          if (written._tag !== "Written") {
            if (attempt + 1 >= MAX_ATTEMPTS) return yield* c.contended(MAX_ATTEMPTS)
            if (written._tag === "Fenced") {
              view = yield* c.follow(written, hops++)
            } else {
              // A newer write raced with this read: read again.
              hlc.observe(written.newest)
            }
            verdict = yield* again()
            continue
          }
        }
        yield* c.outcome({
          "cache.quorum.outcome": verdict.needsWriteBack ? "written_back" : "read",
          "cache.attempts": attempt + 1
        })
        return found(winner)
      }
    })

  return { read, readNow } as const
}
