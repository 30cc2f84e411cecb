import { type Channel, ClientError, createClient, Status } from "nice-grpc"
import {
  AntiEntropyServiceDefinition,
  MembershipServiceDefinition,
  PlacementServiceDefinition,
  ReplicaServiceDefinition
} from "../generated/cluster/v1/cluster.js"
import { PeerUnavailable } from "./PeerError.js"
import type { ReplicaStream } from "./replicaStream.js"

/** How long replica batches to a peer whose connection failed fail at once before it is dialled again. */
export const UNREACHABLE_PAUSE_MS = 200

const clientsOf = (channel: Channel) => ({
  replica: createClient(ReplicaServiceDefinition, channel),
  membership: createClient(MembershipServiceDefinition, channel),
  antiEntropy: createClient(AntiEntropyServiceDefinition, channel),
  placement: createClient(PlacementServiceDefinition, channel)
})
export type PeerClients = ReturnType<typeof clientsOf>

/**
 * Everything this node holds for one peer: its channel and typed clients,
 * the long-lived replica stream, whether the peer only speaks Batch, and
 * until when batches to it fail at once after its connection failed. The
 * pool keeps one per address in an `RcMap` and closes it when idle or when
 * the peer leaves.
 */
export class PeerConnection {
  private channel: Channel
  clients: PeerClients
  /** The open replica stream, if any; a new one is opened for the next batch after it ends. */
  stream: ReplicaStream | undefined
  /** The peer answered Stream with UNIMPLEMENTED (an older version): batches go as Batch calls. */
  unary = false
  private pausedUntilMs = 0

  constructor(readonly address: string, private readonly dial: () => Channel) {
    this.channel = dial()
    this.clients = clientsOf(this.channel)
  }

  /** Whether batches should fail at once because the peer was unreachable a moment ago. */
  paused(nowMs: number): boolean {
    return nowMs < this.pausedUntilMs
  }

  /**
   * A call that found no connection drops the channel, so that the peer is
   * dialled afresh (grpc-js would otherwise back off), and pauses batches to
   * it for a moment: a dead replica would cost a connection attempt per
   * event-loop turn. The batches of one failed stream all report it: the
   * first redials, the rest find the fresh channel (paused) and leave it.
   */
  failed(error: unknown, nowMs: number): void {
    if (!(error instanceof ClientError && error.code === Status.UNAVAILABLE) || this.paused(nowMs)) return
    this.close("disconnected")
    this.channel = this.dial()
    this.clients = clientsOf(this.channel)
    this.pausedUntilMs = nowMs + UNREACHABLE_PAUSE_MS
  }

  /** Ends the replica stream (its unanswered batches fail) and the channel. */
  close(reason: string): void {
    this.stream?.close(new PeerUnavailable({ address: this.address, reason }))
    this.stream = undefined
    this.channel.close()
  }
}
