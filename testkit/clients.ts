import { type Channel, type ChannelCredentials, ClientError, createChannel, createClient, Status } from "nice-grpc"
import { HealthDefinition } from "nice-grpc-server-health"
import { CacheServiceDefinition } from "../src/generated/pb/cache.js"

/** gRPC clients of one node over one channel (plain text unless `credentials` say otherwise); close it when done. */
export const connect = (address: string, options: Record<string, number> = {}, credentials?: ChannelCredentials) => {
  const channel: Channel = createChannel(address, credentials, options)
  return {
    channel,
    cache: createClient(CacheServiceDefinition, channel),
    health: createClient(HealthDefinition, channel),
    close: () => channel.close()
  }
}

/** The gRPC outcome of a call as text: "OK", or "CODE: details". */
export const statusOf = async (call: Promise<unknown>): Promise<string> => {
  try {
    await call
    return "OK"
  } catch (error) {
    if (error instanceof ClientError) return `${Status[error.code]}: ${error.details}`
    throw error
  }
}
