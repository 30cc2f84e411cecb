import { Effect, Exit, type Fiber } from "effect"
import type { Version } from "../clock/version.js"
import { fanout } from "../peer/fanout.js"
import type { ConfigView } from "../placement/ConfigView.js"
import type { ReplicaRequest } from "../protocol/replica.js"
import type { Value, Write } from "../store/entry.js"
import { type Coordination, contentionBackoff, type WriteGroup } from "./coordination.js"
import type { Consistency } from "./consistency.js"
import type { WriteVerdict } from "./quorum.js"
import type { ReplicaSpans } from "./replicaSpans.js"
import { NotServing, type ReplicationError } from "./ReplicationError.js"
import { settled } from "./settle.js"
import { WriteFanout, type WriteStep } from "./writeFanout.js"

/** The outcome of a write or deletion. */
export interface WriteOutcome {
  readonly version: Version
  /** Whether a live value was replaced or removed. */
  readonly existed: boolean
}

/** Rounds tolerated before a request gives up: each stale write retries above what it met. */
export const MAX_ATTEMPTS = 16

/**
 * The write path: a fresh HLC version sent to every replica of the key,
 * successful once W have applied it (in each replica set during a
 * movement); a stale attempt retries above what it met, a fenced one
 * follows the newer ring with the same version.
 */
export const makeWritePath = (
  c: Coordination,
  /** Runs what `writeNow` continues in a fiber. */
  runFork: <A, E>(effect: Effect.Effect<A, E>) => Fiber.RuntimeFiber<A, E>
) => {
  const { hlc, metrics, tracing } = c

  /** Sends one write to every replica of `groups` (in `WriteFanout`'s order) and settles as soon as the round has a verdict. */
  const startRound = (
    key: string,
    groups: ReadonlyArray<WriteGroup>,
    write: Write,
    epoch: number,
    spans: ReplicaSpans | undefined,
    settle: (verdict: WriteVerdict) => void
  ): void => {
    const fan = new WriteFanout(groups, c.self)
    const request: ReplicaRequest = { key, write, epoch }
    const act = (step: WriteStep) => {
      if (step.verdict !== undefined) settle(step.verdict)
      if (step.sendLocal) sendLocal()
    }
    const sendLocal = () => c.send(c.self, request, (reply) => act(fan.localAnswered(reply)), spans)
    const send = (address: string, request: ReplicaRequest, onReply: Parameters<typeof c.send>[2]) => c.send(address, request, onReply, spans)
    fanout(send, fan.remotes.map((peer) => ({ peer, request })), (i, reply) => act(fan.remoteAnswered(fan.remotes[i]!, reply)))
    if (fan.localAtOnce) sendLocal()
  }
  const writeRound = (key: string, groups: ReadonlyArray<WriteGroup>, write: Write, epoch: number, spans?: ReplicaSpans) =>
    settled<WriteVerdict>((settle) => startRound(key, groups, write, epoch, spans, settle))

  /** What a successful write answers; its span records the outcome. */
  const writeDone = (version: Version, existed: boolean, required: number, attempts: number): Effect.Effect<WriteOutcome> => {
    const done = Effect.succeed({ version, existed })
    return tracing
      ? Effect.zipRight(c.outcome({ "cache.quorum.outcome": "written", "cache.quorum.required": required, "cache.attempts": attempts }), done)
      : done
  }

  /** Writes a value, or deletes when `value` is undefined, at a fresh version. */
  const write = (
    key: string,
    value: Value | undefined,
    expiresAtMs: number,
    consistency: Consistency
  ): Effect.Effect<WriteOutcome, ReplicationError> => {
    const view = c.routing()
    if (view instanceof NotServing) return Effect.fail(view)
    const first = (spans: ReplicaSpans | undefined) => {
      const version = hlc.next()
      const groups = c.writeGroups(view, key, consistency)
      return Effect.flatMap(writeRound(key, groups, { version, value, expiresAtMs }, view.epoch, spans), (verdict) =>
        // The common case, one round, without the retry loop.
        verdict._tag === "Written"
          ? writeDone(version, verdict.existed, groups[0]!.required, 1)
          : writeRetries(key, value, expiresAtMs, consistency, view, spans, version, verdict))
    }
    return tracing ? Effect.flatMap(c.replicaSpans("write"), first) : first(undefined)
  }

  /**
   * `write` without tracing, as a callback: the first round runs from the
   * replicas' callbacks with no fiber (see `readNow`); only a round that did
   * not write continues in one (`writeRetries`).
   */
  const writeNow = (
    key: string,
    value: Value | undefined,
    expiresAtMs: number,
    consistency: Consistency,
    done: (exit: Exit.Exit<WriteOutcome, ReplicationError>) => void
  ): void => {
    const view = c.routing()
    if (view instanceof NotServing) return done(Exit.fail(view))
    const version = hlc.next()
    const groups = c.writeGroups(view, key, consistency)
    startRound(key, groups, { version, value, expiresAtMs }, view.epoch, undefined, (verdict) => {
      if (verdict._tag === "Written") return done(Exit.succeed({ version, existed: verdict.existed }))
      runFork(writeRetries(key, value, expiresAtMs, consistency, view, undefined, version, verdict)).addObserver(done)
    })
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
        const groups = c.writeGroups(view, key, consistency)
        if (verdict._tag === "Written") return yield* writeDone(version, verdict.existed, groups[0]!.required, attempt + 1)
        if (verdict._tag === "Unavailable") return yield* c.unavailable("write", verdict.required, verdict.acked, verdict.replicas)
        if (attempt + 1 >= MAX_ATTEMPTS) return yield* c.contended(MAX_ATTEMPTS)
        if (verdict._tag === "Fenced") {
          landed ||= verdict.landed
          view = yield* c.follow(verdict, hops++)
        } else {
          hlc.observe(verdict.newest)
          if (verdict._tag === "Superseded" || landed) return yield* c.contended(attempt + 1)
          metrics.staleRetry()
          yield* contentionBackoff(attempt)
          version = hlc.next()
        }
        verdict = yield* writeRound(key, c.writeGroups(view, key, consistency), { version, value, expiresAtMs }, view.epoch, spans)
      }
    })

  return { write, writeNow, writeRound } as const
}

export type WritePath = ReturnType<typeof makeWritePath>
