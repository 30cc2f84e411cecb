import { type Channel, ClientError, createChannel, createClient, Status } from "nice-grpc"
import { HealthDefinition } from "nice-grpc-server-health"
import { CacheServiceDefinition } from "../../src/generated/pb/cache.js"

/** gRPC clients of one node over one channel; close it when done. */
export const connect = (address: string, options: Record<string, number> = {}) => {
  const channel: Channel = createChannel(address, undefined, options)
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
