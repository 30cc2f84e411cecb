/**
 * The messages of ring agreement (see docs/membership.md): who a member is,
 * what an agreed ring configuration holds, and the requests nodes exchange
 * to form a cluster, decide the next configuration (single-decree Paxos per
 * epoch) and spread it. Shared by the placement core, the peer transport and
 * the gRPC handlers.
 */

/**
 * A member's identity: its address and the generation of the process there.
 * A node that restarts (an empty memory) has a new generation, so it is a
 * new member and must join again.
 */
export interface MemberId {
  readonly address: string
  readonly generation: number
}

/**
 * - `stable`: reads and writes on the ring of `members`.
 * - `writeBoth`: moving from `previous` to `members`: writes need a quorum of
 *   the key's replicas on both rings, reads use the previous ring; members
 *   that gain ranges pull them meanwhile.
 * - `readNew`: every member that gained ranges has pulled them: reads use the
 *   new ring, writes still need both.
 */
export type RingPhase = "stable" | "writeBoth" | "readNew"

/** What a Paxos instance decides: the configuration of the next epoch. */
export interface ConfigValue {
  readonly phase: RingPhase
  /** Sorted by address, one identity per address. */
  readonly members: ReadonlyArray<MemberId>
  /** The ring being left during a movement; empty when stable. */
  readonly previous: ReadonlyArray<MemberId>
  /**
   * Members of `previous` an operator removed by force: they count towards
   * no quorum and no pull, accepting that writes only they held are lost.
   */
  readonly forced: ReadonlyArray<MemberId>
}

/** An agreed configuration: the value decided for its epoch (1, 2, 3, ...). */
export interface RingConfig extends ConfigValue {
  readonly epoch: number
}

/** Paxos ballots: higher round wins; the proposer's id breaks ties. */
export interface Ballot {
  readonly round: number
  readonly proposer: string
}

/** Asks a node who it is and what it has agreed (formation, catching up, the leader's barrier). */
export interface HelloRequest {
  readonly from: MemberId
  readonly seeds: ReadonlyArray<string>
}

export interface HelloResponse {
  readonly self: MemberId
  readonly seeds: ReadonlyArray<string>
  readonly config: RingConfig | undefined
  /** The epoch at which this node last finished pulling the ranges it gained (0: never needed to). */
  readonly syncedEpoch: number
}

/**
 * Phase 1 of instance `instance` (the epoch being decided). `base` is the
 * proposer's configuration of epoch `instance - 1` (none for the first), so
 * an acceptor that is behind can install it first; `seeds` is the
 * proposer's seed list, which must equal the acceptor's for the first.
 */
export interface PrepareRequest {
  readonly from: MemberId
  readonly instance: number
  readonly ballot: Ballot
  readonly base: RingConfig | undefined
  readonly seeds: ReadonlyArray<string>
}

export interface PrepareResponse {
  readonly acceptor: MemberId
  readonly ok: boolean
  /** The highest ballot this acceptor has promised (on refusal: the one to beat). */
  readonly promised: Ballot | undefined
  /** The value it accepted in this instance, if any, with its ballot. */
  readonly accepted: { readonly ballot: Ballot; readonly value: ConfigValue } | undefined
  /** Set when the acceptor has already installed `instance` or later: learn it instead. */
  readonly config: RingConfig | undefined
  readonly reason: string
}

export interface AcceptRequest {
  readonly from: MemberId
  readonly instance: number
  readonly ballot: Ballot
  readonly value: ConfigValue
  readonly base: RingConfig | undefined
  readonly seeds: ReadonlyArray<string>
}

export interface AcceptResponse {
  readonly acceptor: MemberId
  readonly ok: boolean
  readonly promised: Ballot | undefined
  readonly config: RingConfig | undefined
  readonly reason: string
}

/** A decided configuration, sent by its proposer to everyone concerned. */
export interface CommitRequest {
  readonly config: RingConfig
}

/** The receiver's epoch after the commit. */
export interface CommitResponse {
  readonly epoch: number
}

/**
 * A change asked of the members (the leader acts on it): a node joining or
 * leaving, an operator's removal, or a member reporting that it has pulled
 * the ranges it gains in `epoch`.
 */
export type Change =
  | { readonly kind: "join"; readonly member: MemberId }
  | { readonly kind: "leave"; readonly member: MemberId }
  | { readonly kind: "remove"; readonly member: MemberId; readonly force: boolean }
  | { readonly kind: "synced"; readonly member: MemberId; readonly epoch: number }

export interface ChangeRequest {
  readonly from: MemberId
  readonly change: Change
}

export interface ChangeResponse {
  readonly accepted: boolean
  readonly reason: string
  readonly epoch: number
}

export type PlacementRequest =
  | { readonly kind: "hello"; readonly body: HelloRequest }
  | { readonly kind: "prepare"; readonly body: PrepareRequest }
  | { readonly kind: "accept"; readonly body: AcceptRequest }
  | { readonly kind: "commit"; readonly body: CommitRequest }
  | { readonly kind: "change"; readonly body: ChangeRequest }

/** The response type of each request kind. */
export interface PlacementResponses {
  readonly hello: HelloResponse
  readonly prepare: PrepareResponse
  readonly accept: AcceptResponse
  readonly commit: CommitResponse
  readonly change: ChangeResponse
}

export type PlacementResponse = PlacementResponses[keyof PlacementResponses]

/** The most members a configuration may list (bounds what a message can make a node build). */
export const MAX_RING_MEMBERS = 1024

export const memberKey = (member: MemberId): string => `${member.address}/${member.generation}`

export const sameMember = (a: MemberId | undefined, b: MemberId | undefined): boolean =>
  a !== undefined && b !== undefined && a.address === b.address && a.generation === b.generation

export const compareBallots = (a: Ballot, b: Ballot): number =>
  a.round !== b.round ? a.round - b.round : a.proposer < b.proposer ? -1 : a.proposer > b.proposer ? 1 : 0
