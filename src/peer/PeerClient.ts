import { Context, type Effect } from "effect"
import type { MemberUpdate } from "../membership/swim.js"
import type { ReplicaReply, ReplicaRequest } from "../replication/protocol.js"
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
  /** Drops the connection to a peer that left. */
  readonly disconnect: (address: string) => void
}

export class PeerClient extends Context.Tag("cache/peer/PeerClient")<PeerClient, PeerClientShape>() {}
