import * as V from "../clock/version.js"
import type { Version } from "../clock/version.js"
import type { PeerError } from "../peer/PeerError.js"
import type { ReplicaReply } from "../protocol/replica.js"
import type { Write } from "../store/entry.js"
import type { ReadRound, ReadVerdict, ReadWinner } from "./quorum.js"

type Reply = ReplicaReply | PeerError

/** What the coordinator does after an answer: settle with the round's verdict, or write the winner to a replica behind it. */
export type ReadStep =
  | { readonly _tag: "Settled"; readonly verdict: ReadVerdict }
  | { readonly _tag: "Repair"; readonly write: Write }

/** Whether a read answer is older than `version` (so that replica needs repair). */
const isBehind = (reply: Reply, version: Version): boolean =>
  reply._tag === "Absent" || ((reply._tag === "Found" || reply._tag === "Deleted") && V.compare(reply.version, version) < 0)

/** The winner of a read as a replica write (read repair, write-back). */
export const winnerWrite = (winner: ReadWinner): Write =>
  winner._tag === "Found"
    ? { version: winner.version, value: winner.value, expiresAtMs: winner.expiresAtMs }
    : { version: winner.version, value: undefined, expiresAtMs: 0 }

/**
 * The order one read asks replicas in, without any I/O: the first `first`
 * of `order` at once, another whenever one answers without a vote (failed,
 * not ready, on another epoch), and every one left when the speculative
 * delay passes first. Answers after the verdict that are behind its winner
 * get the winner written back (read repair), so replicas converge.
 */
export class ReadFanout {
  private asked = 0
  private wanted: number
  private verdict: ReadVerdict | undefined

  constructor(private readonly order: ReadonlyArray<string>, first: number, private readonly round: ReadRound) {
    this.wanted = Math.min(first, order.length)
  }

  /** The next replica to ask now (counted as asked), or undefined when none is due. */
  next(): string | undefined {
    if (this.verdict !== undefined || this.asked >= this.wanted) return undefined
    return this.order[this.asked++]
  }

  /** Whether replicas are left to ask while the round is open: the speculative delay must be watched. */
  waiting(): boolean {
    return this.verdict === undefined && this.asked < this.order.length
  }

  /** One replica's answer: the step it calls for, if any (then `next` may name more replicas to ask). */
  answered(address: string, reply: Reply): ReadStep | undefined {
    if (this.verdict === undefined) {
      const verdict = this.round.record(address, reply)
      if (verdict !== undefined) {
        this.verdict = verdict
        return { _tag: "Settled", verdict }
      }
      if (reply._tag !== "Found" && reply._tag !== "Deleted" && reply._tag !== "Absent") {
        // This one cannot count: ask another now.
        this.wanted = Math.min(this.wanted + 1, this.order.length)
      }
      return undefined
    }
    const winner = this.verdict._tag === "Read" ? this.verdict.winner : undefined
    return winner !== undefined && isBehind(reply, winner.version) ? { _tag: "Repair", write: winnerWrite(winner) } : undefined
  }

  /** The speculative delay passed: every replica not yet asked is due. Whether the round was still open. */
  speculate(): boolean {
    if (this.verdict !== undefined) return false
    this.wanted = this.order.length
    return true
  }
}
