import { Schema } from "effect"

/** A listener, gRPC or admin, could not be opened (address in use, host not resolvable, ...): start-up stops. */
export class ServerStartError extends Schema.TaggedError<ServerStartError>()("ServerStartError", {
  address: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `cannot listen on ${this.address}: ${this.reason}`
  }
}
