import { type Ballot, compareBallots, type ConfigValue } from "../protocol/placement.js"

/**
 * Single-decree Paxos, one instance per epoch: instance e decides the
 * configuration of epoch e, and its acceptors are the members of epoch e - 1
 * (the seed list for the first). Plain synchronous bookkeeping; the
 * placement core feeds it messages and sends what it says.
 */

export interface Accepted {
  readonly ballot: Ballot
  readonly value: ConfigValue
}

/** An acceptor's promise and accepted value for one instance. */
export class AcceptorState {
  private promised: Ballot | undefined
  private accepted: Accepted | undefined

  constructor(readonly instance: number) {}

  /** Phase 1b: promise never to accept a lower ballot; report what was accepted. */
  prepare(ballot: Ballot): { readonly ok: boolean; readonly promised: Ballot | undefined; readonly accepted: Accepted | undefined } {
    if (this.promised !== undefined && compareBallots(ballot, this.promised) <= 0) {
      return { ok: false, promised: this.promised, accepted: undefined }
    }
    this.promised = ballot
    return { ok: true, promised: ballot, accepted: this.accepted }
  }

  /** Phase 2b: accept unless a higher ballot was promised. */
  accept(ballot: Ballot, value: ConfigValue): { readonly ok: boolean; readonly promised: Ballot | undefined } {
    if (this.promised !== undefined && compareBallots(ballot, this.promised) < 0) return { ok: false, promised: this.promised }
    this.promised = ballot
    this.accepted = { ballot, value }
    return { ok: true, promised: ballot }
  }
}

/** What a proposer's round says after an answer. */
export type RoundStep =
  | { readonly _tag: "Wait" }
  /** Phase 1 reached a quorum: send Accept with this value (the highest-ballot accepted one, else the proposer's own). */
  | { readonly _tag: "Accept"; readonly value: ConfigValue }
  /** Phase 2 reached a quorum: the value is chosen. */
  | { readonly _tag: "Decided"; readonly value: ConfigValue }
  /** A quorum can no longer be reached with this ballot (refusals, or a higher ballot seen): retry higher. */
  | { readonly _tag: "Lost"; readonly highest: Ballot | undefined }

const WAIT: RoundStep = { _tag: "Wait" }

/**
 * One proposer's attempt at one instance with one ballot: counts promises,
 * then acceptances, from distinct acceptors, towards `quorum` of
 * `acceptors`. Answers from others, or repeated, are ignored.
 */
export class ProposerRound {
  private phase: "prepare" | "accept" = "prepare"
  private readonly answered = new Set<string>()
  private ok = 0
  private refused = 0
  private highestAccepted: Accepted | undefined
  private highestSeen: Ballot | undefined
  private chosen: ConfigValue | undefined

  constructor(
    readonly instance: number,
    readonly ballot: Ballot,
    readonly acceptors: ReadonlyArray<string>,
    readonly quorum: number,
    readonly ownValue: ConfigValue
  ) {}

  get accepting(): boolean {
    return this.phase === "accept"
  }

  /** The value phase 2 proposes (defined once phase 1 has a quorum). */
  get value(): ConfigValue | undefined {
    return this.chosen
  }

  onPromise(
    acceptor: string,
    answer: { readonly ok: boolean; readonly promised: Ballot | undefined; readonly accepted: Accepted | undefined }
  ): RoundStep {
    if (this.phase !== "prepare" || !this.fresh(acceptor)) return WAIT
    if (!answer.ok) return this.refusal(answer.promised)
    this.ok++
    if (answer.accepted !== undefined && (this.highestAccepted === undefined || compareBallots(answer.accepted.ballot, this.highestAccepted.ballot) > 0)) {
      this.highestAccepted = answer.accepted
    }
    if (this.ok < this.quorum) return WAIT
    this.chosen = this.highestAccepted?.value ?? this.ownValue
    this.phase = "accept"
    this.answered.clear()
    this.ok = 0
    this.refused = 0
    return { _tag: "Accept", value: this.chosen }
  }

  onAccepted(acceptor: string, answer: { readonly ok: boolean; readonly promised: Ballot | undefined }): RoundStep {
    if (this.phase !== "accept" || !this.fresh(acceptor)) return WAIT
    if (!answer.ok) return this.refusal(answer.promised)
    this.ok++
    return this.ok >= this.quorum ? { _tag: "Decided", value: this.chosen! } : WAIT
  }

  /** An acceptor that did not answer (timeout, unreachable): it counts against the quorum. */
  onSilence(acceptor: string): RoundStep {
    if (!this.fresh(acceptor)) return WAIT
    return this.refusal(undefined)
  }

  private fresh(acceptor: string): boolean {
    if (!this.acceptors.includes(acceptor) || this.answered.has(acceptor)) return false
    this.answered.add(acceptor)
    return true
  }

  private refusal(promised: Ballot | undefined): RoundStep {
    this.refused++
    if (promised !== undefined && (this.highestSeen === undefined || compareBallots(promised, this.highestSeen) > 0)) this.highestSeen = promised
    return this.acceptors.length - this.refused < this.quorum ? { _tag: "Lost", highest: this.highestSeen } : WAIT
  }
}
