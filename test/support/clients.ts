import { type Channel, createChannel, createClient } from "nice-grpc"
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
