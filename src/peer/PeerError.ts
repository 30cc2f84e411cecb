import { Schema } from "effect"

/** The peer could not be reached or failed the call (connection refused, reset, refused by the peer). */
export class PeerUnavailable extends Schema.TaggedError<PeerUnavailable>()("PeerUnavailable", {
  address: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `peer ${this.address} unavailable: ${this.reason}`
  }
}

/** The peer did not answer within RPC_TIMEOUT. */
export class PeerTimeout extends Schema.TaggedError<PeerTimeout>()("PeerTimeout", {
  address: Schema.String,
  timeoutMs: Schema.Number
}) {
  override get message(): string {
    return `peer ${this.address} did not answer within ${this.timeoutMs} ms`
  }
}

export type PeerError = PeerUnavailable | PeerTimeout
