import * as V from "../clock/version.js"
import type { Version } from "../clock/version.js"
import type { ReplicaReply } from "../protocol/replica.js"
import type { Value } from "../store/entry.js"

/**
 * Pure bookkeeping for one fan-out: each replica's answer goes in through
 * `record`, which returns a verdict as soon as one is certain (so the
 * coordinator answers at quorum and never waits for the slowest replica).
 */

/** What a round ended with; "unavailable" carries how many answered usefully. */
export type Unavailable = { readonly _tag: "Unavailable"; readonly acked: number; readonly replicas: number; readonly required: number }

/**
 * A replica on a newer ring epoch refused, and the round could not succeed
 * without it: learn that epoch's configuration from `from` and try again
 * on it (a write with the same version: it is one write, wherever it
 * landed). `landed`: some replica applied the attempt (or may have, having
 * not answered), so it may have been seen: should a later round find it
 * stale, it must not be retried at a newer version.
 */
export type Fenced = { readonly _tag: "Fenced"; readonly epoch: number; readonly from: string; readonly landed: boolean }

export type WriteVerdict =
  | { readonly _tag: "Written"; readonly existed: boolean }
  /** Newer versions stop this attempt and no replica took it: retry above `newest`. */
  | { readonly _tag: "Stale"; readonly newest: Version }
  /**
   * Too few applied and some did: the attempt may already be visible, so a
   * retry at a newer version could make the same write appear twice. The
   * write lost to concurrent newer ones; its outcome is unknown.
   */
  | { readonly _tag: "Superseded"; readonly newest: Version }
  | Unavailable
  | Fenced

/** A replica the coordinator chose not to send this attempt to (its local copy, held back). */
export type Withheld = { readonly _tag: "Withheld" }
export const WITHHELD: Withheld = { _tag: "Withheld" }

type Failure = { readonly _tag: "PeerUnavailable" | "PeerTimeout" }

/** How one replica's answer counts. */
const enum Outcome {
  Applied,
  /** Refused as stale (or never sent): certainly not applied. */
  Refused,
  /** No answer: may or may not have applied. */
  Failed,
  /** Not a replica at this epoch: nothing applied, cannot count. */
  Abstained,
  /** On a newer epoch: nothing applied, cannot count here. */
  Fenced
}

/** One replica set a write must reach `required` of. */
interface Group {
  readonly replicas: ReadonlyArray<string>
  readonly required: number
  applied: number
  unusable: number
  answered: number
}

/**
 * Counts a write attempt's Applied acks towards `required` in each of its
 * replica sets: one when the ring is stable, the previous and the new
 * ring's during a movement (joint quorums). An address in both sets counts
 * in both.
 */
export class WriteRound {
  private readonly groups: Array<Group>
  private applied = 0
  private failed = 0
  private answered = 0
  private fenced: Fenced | undefined
  private newest: Version = V.ZERO
  private existed = false
  private readonly targets: number

  constructor(groups: ReadonlyArray<{ readonly replicas: ReadonlyArray<string>; readonly required: number }>) {
    this.groups = groups.map((g) => ({ replicas: g.replicas, required: g.required, applied: 0, unusable: 0, answered: 0 }))
    this.targets = groups.length === 1 ? groups[0]!.replicas.length : new Set(groups.flatMap((g) => g.replicas)).size
  }

  record(address: string, reply: ReplicaReply | Withheld | Failure): WriteVerdict | undefined {
    let outcome: Outcome
    switch (reply._tag) {
      case "Applied":
        outcome = Outcome.Applied
        this.applied++
        this.existed ||= reply.existed
        break
      case "Stale":
        outcome = Outcome.Refused
        this.newest = V.max(this.newest, reply.current)
        break
      case "Withheld":
        outcome = Outcome.Refused
        break
      case "NotReady":
      case "Refused":
        outcome = Outcome.Abstained
        break
      case "WrongEpoch":
        outcome = Outcome.Fenced
        if (this.fenced === undefined || reply.epoch > this.fenced.epoch) this.fenced = { _tag: "Fenced", epoch: reply.epoch, from: address, landed: false }
        break
      default:
        outcome = Outcome.Failed
        this.failed++
    }
    this.answered++
    for (const group of this.groups) {
      if (!group.replicas.includes(address)) continue
      group.answered++
      if (outcome === Outcome.Applied) group.applied++
      else if (outcome !== Outcome.Refused) group.unusable++
    }
    return this.verdict()
  }

  private verdict(): WriteVerdict | undefined {
    let written = true
    let open = false
    let unreachable: Group | undefined
    let outOfReach = false
    for (const group of this.groups) {
      if (group.applied < group.required) written = false
      const remaining = group.replicas.length - group.answered
      if (remaining > 0) open = true
      if (group.applied + remaining < group.required) {
        outOfReach = true
        if (group.replicas.length - group.unusable < group.required) unreachable ??= group
      }
    }
    if (written) return { _tag: "Written", existed: this.existed }
    if (!outOfReach) return undefined
    // A replica on a newer ring would have answered there: try there, with this very version.
    if (this.fenced !== undefined) return { ...this.fenced, landed: this.applied > 0 || this.failed > 0 || this.answered < this.targets }
    if (unreachable !== undefined) {
      return { _tag: "Unavailable", acked: unreachable.replicas.length - unreachable.unusable, replicas: unreachable.replicas.length, required: unreachable.required }
    }
    // Out of reach because of newer versions. Wait for every answer, then
    // retry only if this attempt cannot have been seen: no replica applied it
    // (nor may have, having timed out). Any replica that applied it could have
    // shown it to a concurrent read before the refusals arrived.
    if (open || this.answered < this.targets) return undefined
    return this.applied === 0 && this.failed === 0
      ? { _tag: "Stale", newest: this.newest }
      : { _tag: "Superseded", newest: this.newest }
  }
}

/** The newest state a read saw for a key. */
export type ReadWinner =
  | { readonly _tag: "Found"; readonly version: Version; readonly value: Value; readonly expiresAtMs: number }
  | { readonly _tag: "Deleted"; readonly version: Version }

export type ReadVerdict =
  | {
    readonly _tag: "Read"
    /** undefined when no replica holds the key (or a deletion is newest). */
    readonly winner: ReadWinner | undefined
    /** Replicas that already hold the winner (or, with no winner, answered). */
    readonly holders: ReadonlyArray<string>
    /** Whether the answers disagreed, so the winner must be written back first. */
    readonly needsWriteBack: boolean
    /** A newer version may have been forgotten by some replica: the winner must not be returned. */
    readonly forgotten: boolean
  }
  | Unavailable
  | Fenced

type ReadReply = Extract<ReplicaReply, { readonly _tag: "Found" | "Deleted" | "Absent" }>

/**
 * Collects read answers until `required` have arrived, then picks the
 * newest. A replica that answers "absent, forgot up to f" voids a winner
 * older than f: it may have held a newer version and evicted it. A winner
 * at exactly f is what that replica evicted itself, so nothing newer was
 * lost, unless its TTL may have run out on some replica: before
 * `expiryHorizonMs` (now plus MAX_CLOCK_OFFSET) it counts as expired.
 */
export class ReadRound {
  private readonly answers: Array<{ readonly address: string; readonly reply: ReadReply }> = []
  private failed = 0
  private fenced: Fenced | undefined

  constructor(readonly replicas: number, readonly required: number, readonly expiryHorizonMs = Number.POSITIVE_INFINITY) {}

  record(address: string, reply: ReplicaReply | Failure): ReadVerdict | undefined {
    if (reply._tag === "Found" || reply._tag === "Deleted" || reply._tag === "Absent") {
      this.answers.push({ address, reply })
      return this.answers.length >= this.required ? this.decide() : undefined
    }
    if (reply._tag === "WrongEpoch" && (this.fenced === undefined || reply.epoch > this.fenced.epoch)) {
      this.fenced = { _tag: "Fenced", epoch: reply.epoch, from: address, landed: false }
    }
    // Failed, fenced, or not a replica here (NotReady): it cannot count.
    this.failed++
    if (this.replicas - this.failed >= this.required) return undefined
    return this.fenced ?? { _tag: "Unavailable", acked: this.answers.length, replicas: this.replicas, required: this.required }
  }

  /**
   * The verdict once R have answered. When nobody holds the key but some
   * answer says its replica forgot something in the key's bucket, "not
   * found" may be that replica's eviction while the others merely missed
   * the write, or a copy of the value may still be on its way to one of
   * them: a later read could find it after this one said it was gone. So
   * that read is a forgotten one, which the coordinator makes stick with a
   * tombstone.
   */
  private decide(): ReadVerdict {
    let winner: ReadWinner | undefined
    let watermark: Version = V.ZERO
    for (const { reply } of this.answers) {
      if (reply._tag === "Absent") watermark = V.max(watermark, reply.watermark)
      else if (winner === undefined || V.compare(reply.version, winner.version) > 0) winner = reply
    }
    if (winner === undefined) {
      const forgotten = V.compare(watermark, V.ZERO) > 0
      return { _tag: "Read", winner: undefined, holders: this.answers.map((a) => a.address), needsWriteBack: false, forgotten }
    }
    const w = winner
    const holders = this.answers
      .filter(({ reply }) => reply._tag !== "Absent" && V.compare(reply.version, w.version) === 0)
      .map((a) => a.address)
    return {
      _tag: "Read",
      winner: w,
      holders,
      needsWriteBack: holders.length < this.answers.length,
      forgotten: w._tag === "Found" && forgottenAt(watermark, w, this.expiryHorizonMs)
    }
  }
}

/** Whether a replica that forgot up to `watermark` may have forgotten something newer than `winner` (see `ReadRound`). */
const forgottenAt = (watermark: Version, winner: Extract<ReadWinner, { _tag: "Found" }>, expiryHorizonMs: number): boolean => {
  const order = V.compare(watermark, winner.version)
  return order > 0 || (order === 0 && winner.expiresAtMs !== 0 && winner.expiresAtMs <= expiryHorizonMs)
}
