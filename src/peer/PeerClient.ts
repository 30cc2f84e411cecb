import { Context, type Effect, type Stream } from "effect"
import type { Digest, HashRange } from "../antientropy/MerkleTree.js"
import type { MemberUpdate } from "../membership/swim.js"
import type { ReplicaReply, ReplicaRequest } from "../replication/protocol.js"
import type { Write } from "../store/entry.js"
import type { PeerError } from "./PeerError.js"

/** A SWIM probe: who sends it, whom it is meant for, and piggybacked gossip. */
export interface ProbeMessage {
  readonly from: string
  readonly target: string
  readonly gossip: ReadonlyArray<MemberUpdate>
}

/** The answer to an indirect probe: whether the target answered the helper in time. */
export interface IndirectAck {
  readonly ack: boolean
  readonly gossip: ReadonlyArray<MemberUpdate>
}

/** One key's record as a pull copies it. */
export interface PulledRecord {
  readonly key: string
  readonly write: Write
}

/** A request to copy the records of the keys `requester` replicates on the ring of `members`. */
export interface PullRequest {
  readonly requester: string
  readonly members: ReadonlyArray<string>
  /** Only keys whose hash lies in one of these (anti-entropy); all when absent. */
  readonly ranges?: ReadonlyArray<HashRange>
}

/** Merkle digests of some ring arcs at one tree level, asked of a co-replica with the same ring. */
export interface DigestsRequest {
  readonly members: ReadonlyArray<string>
  /** Arcs named by the token that ends them. */
  readonly arcs: ReadonlyArray<number>
  readonly level: number
}

/** One arc's digests at the level asked; undefined when the peer does not replicate the arc. */
export interface ArcDigests {
  readonly arc: number
  readonly digests: ReadonlyArray<Digest> | undefined
}

/** One piece of a pull's answer. */
export interface PullChunk {
  /** The sender's synced ring members (first chunk only; empty after, or when it holds nothing in full). */
  readonly syncedMembers: ReadonlyArray<string>
  readonly records: ReadonlyArray<PulledRecord>
}

/**
 * What one node offers the others: the server side of every peer call.
 * The gRPC server exposes it on the wire; the in-memory transport calls it
 * directly.
 */
export interface PeerEndpoint {
  readonly replicate: (request: ReplicaRequest) => ReplicaReply
  readonly ping: (message: ProbeMessage) => Effect.Effect<ReadonlyArray<MemberUpdate>>
  readonly pingReq: (message: ProbeMessage) => Effect.Effect<IndirectAck>
  readonly join: (joiner: MemberUpdate) => Effect.Effect<ReadonlyArray<MemberUpdate>>
  /** Fails with a reason when the sender is not ready to answer it yet. */
  readonly pull: (request: PullRequest) => Stream.Stream<PullChunk, string>
  /** Fails with a reason when the receiver's ring is not `members`. */
  readonly digests: (request: DigestsRequest) => Effect.Effect<ReadonlyArray<ArcDigests>, string>
}

/**
 * The client side of peer calls (the port; `PeerPool` is gRPC, `PeerMemory`
 * is in-process for tests). Every call has the RPC_TIMEOUT deadline and
 * fails with a `PeerError`, never a transport exception.
 */
export interface PeerClientShape {
  /**
   * Sends one replica request. Callback style so that the coordinator can
   * fan out and stop at quorum without a fiber per replica; requests for one
   * peer made in the same event-loop turn travel in one RPC.
   */
  readonly replicate: (address: string, request: ReplicaRequest, onDone: (reply: ReplicaReply | PeerError) => void) => void
  readonly ping: (address: string, message: ProbeMessage) => Effect.Effect<ReadonlyArray<MemberUpdate>, PeerError>
  readonly pingReq: (address: string, message: ProbeMessage) => Effect.Effect<IndirectAck, PeerError>
  readonly join: (address: string, joiner: MemberUpdate) => Effect.Effect<ReadonlyArray<MemberUpdate>, PeerError>
  /** Copies records from a peer: a stream with back-pressure, bounded by SYNC_TIMEOUT as a whole. */
  readonly pull: (address: string, request: PullRequest) => Stream.Stream<PullChunk, PeerError>
  readonly digests: (address: string, request: DigestsRequest) => Effect.Effect<ReadonlyArray<ArcDigests>, PeerError>
  /** Drops the connection to a peer that left. */
  readonly disconnect: (address: string) => void
}

export class PeerClient extends Context.Tag("cache/peer/PeerClient")<PeerClient, PeerClientShape>() {}
