import { Context, type Effect, type Stream } from "effect"
import type { IndirectAck, ProbeAck, ProbeMessage } from "../protocol/membership.js"
import type { ArcDigests, DigestsRequest, EpochMismatch, PullChunk, PullRequest } from "../protocol/movement.js"
import type { PlacementRequest, PlacementResponse } from "../protocol/placement.js"
import type { ReplicaReply, ReplicaRequest } from "../protocol/replica.js"
import type { PeerError } from "./PeerError.js"

/**
 * What one node offers the others: the server side of every peer call.
 * The gRPC server exposes it on the wire; the in-memory transport calls it
 * directly.
 */
export interface PeerEndpoint {
  readonly replicate: (request: ReplicaRequest) => ReplicaReply
  /** Told when a peer's batch had operations refused as invalid (logged with the sender, rate-limited). */
  readonly refused?: (from: string, count: number, reason: string) => Effect.Effect<void>
  /** This node's ring epoch now. */
  readonly epoch: () => number
  /**
   * Before answering operations routed with `epoch`, newer than this node's:
   * learns that configuration from `from` (bounded by RPC_TIMEOUT; a replica
   * never answers for an epoch it does not know).
   */
  readonly catchUp: (epoch: number, from: string) => Effect.Effect<void>
  readonly ping: (message: ProbeMessage) => Effect.Effect<ProbeAck>
  readonly pingReq: (message: ProbeMessage) => Effect.Effect<IndirectAck>
  readonly placement: (request: PlacementRequest) => Effect.Effect<PlacementResponse>
  /** Fails when this node cannot answer at the requester's epoch. */
  readonly pull: (request: PullRequest) => Stream.Stream<PullChunk, EpochMismatch>
  /** Fails when this node is not at the asker's epoch. */
  readonly digests: (request: DigestsRequest) => Effect.Effect<ReadonlyArray<ArcDigests>, EpochMismatch>
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
  readonly ping: (address: string, message: ProbeMessage) => Effect.Effect<ProbeAck, PeerError>
  readonly pingReq: (address: string, message: ProbeMessage) => Effect.Effect<IndirectAck, PeerError>
  readonly placement: (address: string, request: PlacementRequest) => Effect.Effect<PlacementResponse, PeerError>
  /** Copies records from a peer: a stream with back-pressure, bounded by SYNC_TIMEOUT as a whole. */
  readonly pull: (address: string, request: PullRequest) => Stream.Stream<PullChunk, PeerError>
  readonly digests: (address: string, request: DigestsRequest) => Effect.Effect<ReadonlyArray<ArcDigests>, PeerError>
  /** Drops the connection to a peer that left (at once, or when the calls still using it end). */
  readonly disconnect: (address: string) => Effect.Effect<void>
}

export class PeerClient extends Context.Tag("cache/peer/PeerClient")<PeerClient, PeerClientShape>() {}
