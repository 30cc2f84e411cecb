/**
 * (L), the limit of the stack: a bare nice-grpc server answering the same
 * `pb.CacheService` Get/Set/Delete from a JS Map, with nothing else (no
 * Effect, no validation, no replication). Every other scenario is measured
 * as a ratio to it.
 *
 *   node --import tsx scripts/bench/bareServer.ts host:port
 */
import { createServer, ServerError, Status } from "nice-grpc"
import { CacheServiceDefinition, type CacheServiceImplementation } from "../../src/generated/pb/cache.js"

const address = process.argv[2] ?? "127.0.0.1:7070"
const store = new Map<string, { value: string | undefined; valueBytes: Buffer | undefined; hlc: number }>()
let hlc = 0

const service: CacheServiceImplementation = {
  async set(request) {
    store.set(request.key, { value: request.value, valueBytes: request.valueBytes, hlc: ++hlc })
    return { version: { hlc, nodeId: 1, generation: 1 } }
  },
  async get(request) {
    const entry = store.get(request.key)
    if (entry === undefined) throw new ServerError(Status.NOT_FOUND, "key not found")
    const version = { hlc: entry.hlc, nodeId: 1, generation: 1 }
    return entry.value === undefined ? { valueBytes: entry.valueBytes, version, ttlRemainingMs: 0 } : { value: entry.value, version, ttlRemainingMs: 0 }
  },
  async delete(request) {
    const existed = store.delete(request.key)
    return { version: { hlc: ++hlc, nodeId: 1, generation: 1 }, existed }
  }
}

const server = createServer()
server.add(CacheServiceDefinition, service)
await server.listen(address)
process.stdout.write(`${JSON.stringify({ msg: "ready", address })}\n`)
process.on("SIGTERM", () => void server.shutdown().then(() => process.exit(0)))
