import type { PeerError } from "../peer/PeerError.js"
import type { ReplicaReply } from "../protocol/replica.js"
import { WITHHELD, type WriteVerdict, WriteRound } from "./quorum.js"

type Reply = ReplicaReply | PeerError

/** What the coordinator does after an answer: settle with `verdict` (once), and send the local copy now. */
export interface WriteStep {
  readonly verdict: WriteVerdict | undefined
  readonly sendLocal: boolean
}

const NOTHING: WriteStep = { verdict: undefined, sendLocal: false }

/**
 * The order one write attempt goes out in, without any I/O. Every remote
 * replica gets it at once. The local copy is held back until a remote
 * replica has applied the attempt (or goes at once when one ack is enough
 * or no replica is remote): an attempt that every remote refuses as stale
 * then exists nowhere, and can be retried at a newer version without ever
 * being seen twice. When every remote has answered without applying, the
 * local copy counts as refused (withheld).
 */
export class WriteFanout {
  /** The replicas to send the attempt to at once. */
  readonly remotes: ReadonlyArray<string>
  /** Whether the local copy goes out with the remote ones. */
  readonly localAtOnce: boolean
  private readonly round: WriteRound
  private localPending: boolean
  private unanswered: number
  private decided = false

  constructor(
    groups: ReadonlyArray<{ readonly replicas: ReadonlyArray<string>; readonly required: number }>,
    private readonly self: string
  ) {
    const targets = groups.length === 1 ? groups[0]!.replicas : [...new Set(groups.flatMap((g) => g.replicas))]
    this.remotes = targets.filter((address) => address !== self)
    const local = this.remotes.length < targets.length
    this.localAtOnce = local && (this.remotes.length === 0 || groups.every((g) => g.required <= 1))
    this.localPending = local && !this.localAtOnce
    this.unanswered = this.remotes.length
    this.round = new WriteRound(groups)
  }

  /** A remote replica's answer. */
  remoteAnswered(address: string, reply: Reply): WriteStep {
    this.unanswered--
    const verdict = this.record(address, reply)
    if (!this.localPending) return verdict === undefined ? NOTHING : { verdict, sendLocal: false }
    if (reply._tag === "Applied") {
      this.localPending = false
      return { verdict, sendLocal: true }
    }
    if (this.unanswered > 0) return verdict === undefined ? NOTHING : { verdict, sendLocal: false }
    this.localPending = false
    return { verdict: verdict ?? this.record(this.self, WITHHELD), sendLocal: false }
  }

  /** The local replica's answer. */
  localAnswered(reply: Reply): WriteStep {
    const verdict = this.record(this.self, reply)
    return verdict === undefined ? NOTHING : { verdict, sendLocal: false }
  }

  /** The verdict this answer decides, only the first time one is certain. */
  private record(address: string, reply: Reply | typeof WITHHELD): WriteVerdict | undefined {
    if (this.decided) return undefined
    const verdict = this.round.record(address, reply)
    if (verdict !== undefined) this.decided = true
    return verdict
  }
}
