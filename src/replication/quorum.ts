import * as V from "../clock/version.js"
import type { Version } from "../clock/version.js"
import type { Value } from "../store/entry.js"
import type { ReplicaReply } from "./protocol.js"

/**
 * Pure bookkeeping for one fan-out: each replica's answer goes in through
 * `record`, which returns a verdict as soon as one is certain (so the
 * coordinator answers at quorum and never waits for the slowest replica).
 */

/** What a round ended with; "unavailable" carries how many answered usefully. */
export type Unavailable = { readonly _tag: "Unavailable"; readonly acked: number }

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

/** A replica the coordinator chose not to send this attempt to (its local copy, held back). */
export type Withheld = { readonly _tag: "Withheld" }
export const WITHHELD: Withheld = { _tag: "Withheld" }

/** Counts Applied acks of a write towards `required` out of `replicas`. */
export class WriteRound {
  private applied = 0
  private failed = 0
  private stale = 0
  /** Non-voting replicas: cannot count, and their copy is invisible until they vote. */
  private abstained = 0
  private newest: Version = V.ZERO
  private existed = false

  constructor(readonly replicas: number, readonly required: number) {}

  record(reply: ReplicaReply | Withheld | { readonly _tag: "PeerUnavailable" | "PeerTimeout" }): WriteVerdict | undefined {
    switch (reply._tag) {
      case "Withheld":
        this.stale++ // never sent: certainly not applied
        break
      case "Applied":
        this.applied++
        this.existed ||= reply.existed
        break
      case "Stale":
        this.stale++
        this.newest = V.max(this.newest, reply.current)
        break
      case "NotReady":
        this.abstained++
        break
      default:
        this.failed++
    }
    if (this.applied >= this.required) return { _tag: "Written", existed: this.existed }
    const open = this.replicas - this.applied - this.failed - this.stale - this.abstained
    if (this.applied + open >= this.required) return undefined
    // Out of reach: say how many voting replicas could be reached at all.
    const reachable = this.replicas - this.failed - this.abstained
    if (reachable < this.required) return { _tag: "Unavailable", acked: reachable }
    // W is out of reach because of newer versions. Wait for every answer, then
    // retry only if this attempt cannot have been seen: no replica applied it
    // (nor may have, having timed out). Any replica that applied it could have
    // shown it to a concurrent read before the refusals arrived.
    if (open > 0) return undefined
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

type ReadReply = Extract<ReplicaReply, { readonly _tag: "Found" | "Deleted" | "Absent" }>

/** Collects read answers until `required` have arrived, then picks the newest. */
export class ReadRound {
  private readonly answers: Array<{ readonly address: string; readonly reply: ReadReply }> = []
  private failed = 0

  constructor(readonly replicas: number, readonly required: number) {}

  record(address: string, reply: ReplicaReply | { readonly _tag: "PeerUnavailable" | "PeerTimeout" }): ReadVerdict | undefined {
    if (reply._tag === "Found" || reply._tag === "Deleted" || reply._tag === "Absent") {
      this.answers.push({ address, reply })
      return this.answers.length >= this.required ? this.decide() : undefined
    }
    // Failed, or not a voter (NotReady): either way it cannot count.
    this.failed++
    return this.replicas - this.failed < this.required ? { _tag: "Unavailable", acked: this.answers.length } : undefined
  }

  private decide(): ReadVerdict {
    let winner: ReadWinner | undefined
    let watermark: Version = V.ZERO
    for (const { reply } of this.answers) {
      if (reply._tag === "Absent") watermark = V.max(watermark, reply.watermark)
      else if (winner === undefined || V.compare(reply.version, winner.version) > 0) winner = reply
    }
    if (winner === undefined) {
      return { _tag: "Read", winner: undefined, holders: this.answers.map((a) => a.address), needsWriteBack: false, forgotten: false }
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
      forgotten: w._tag === "Found" && V.compare(watermark, w.version) >= 0
    }
  }
}
