/**
 * SWIM messages. Membership detects failures among the members of the agreed
 * ring; these updates never change the ring.
 */
export type MemberStatus = "alive" | "suspect" | "dead" | "left"

/** One gossip unit: what one node claims about one member. */
export interface MemberUpdate {
  readonly address: string
  readonly incarnation: number
  readonly status: MemberStatus
}

/** A SWIM probe: who sends it (its generation and ring epoch), whom it is meant for, and piggybacked gossip. */
export interface ProbeMessage {
  readonly from: string
  readonly generation: number
  readonly epoch: number
  readonly target: string
  readonly gossip: ReadonlyArray<MemberUpdate>
}

/** The answer to a direct probe: the process that answered, its epoch, and gossip. */
export interface ProbeAck {
  readonly generation: number
  readonly epoch: number
  readonly gossip: ReadonlyArray<MemberUpdate>
}

/** The answer to an indirect probe: whether the target answered the helper in time (and as which process). */
export interface IndirectAck {
  readonly ack: boolean
  readonly generation: number
  readonly gossip: ReadonlyArray<MemberUpdate>
}
