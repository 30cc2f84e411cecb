/**
 * (G), the limit of plain grpc-js: a bare grpc-js server with protobufjs
 * codecs (loaded from proto/pb/cache.proto by @grpc/proto-loader) answering
 * `pb.CacheService` Get/Set/Delete from a JS Map, as bareServer.ts (L) does
 * with nice-grpc and ts-proto. No async wrapper, no generated code: the
 * cheapest Node gRPC server of the same API.
 *
 *   node --import tsx scripts/bench/bareGrpcJsServer.ts host:port
 */
import { type sendUnaryData, Server, ServerCredentials, type ServerUnaryCall, status, loadPackageDefinition, type ServiceDefinition } from "@grpc/grpc-js"
import { loadSync } from "@grpc/proto-loader"
import { fileURLToPath } from "node:url"

const address = process.argv[2] ?? "127.0.0.1:7070"

// keepCase: the fields as the .proto names them (value_bytes, ttl_remaining_ms); oneofs: `payload`
// says which of value and value_bytes a SetRequest carries; defaults: absent scalars read as their zero.
const definition = loadSync(fileURLToPath(new URL("../../proto/pb/cache.proto", import.meta.url)), {
  keepCase: true,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true
})
const pb = loadPackageDefinition(definition)["pb"] as unknown as { CacheService: { service: ServiceDefinition } }

interface Payload {
  readonly payload?: "value" | "value_bytes"
  readonly value?: string
  readonly value_bytes?: Buffer
}
interface SetRequest extends Payload {
  readonly key: string
}
interface KeyRequest {
  readonly key: string
}

const store = new Map<string, { value: string | undefined; value_bytes: Buffer | undefined; hlc: number }>()
let hlc = 0

type Unary<Req> = (call: ServerUnaryCall<Req, unknown>, callback: sendUnaryData<unknown>) => void

const set: Unary<SetRequest> = (call, callback) => {
  const request = call.request
  const bytes = request.payload === "value_bytes"
  store.set(request.key, { value: bytes ? undefined : request.value, value_bytes: bytes ? request.value_bytes : undefined, hlc: ++hlc })
  callback(null, { version: { hlc, node_id: 1, generation: 1 } })
}
const get: Unary<KeyRequest> = (call, callback) => {
  const entry = store.get(call.request.key)
  if (entry === undefined) return callback({ code: status.NOT_FOUND, details: "key not found" })
  const version = { hlc: entry.hlc, node_id: 1, generation: 1 }
  callback(null, entry.value === undefined
    ? { value_bytes: entry.value_bytes, version, ttl_remaining_ms: 0 }
    : { value: entry.value, version, ttl_remaining_ms: 0 })
}
const remove: Unary<KeyRequest> = (call, callback) => {
  const existed = store.delete(call.request.key)
  callback(null, { version: { hlc: ++hlc, node_id: 1, generation: 1 }, existed })
}

const server = new Server()
server.addService(pb.CacheService.service, { Set: set, Get: get, Delete: remove })
await new Promise<void>((resolve, reject) =>
  server.bindAsync(address, ServerCredentials.createInsecure(), (error) => (error === null ? resolve() : reject(error)))
)
process.stdout.write(`${JSON.stringify({ msg: "ready", address })}\n`)
process.on("SIGTERM", () => server.tryShutdown(() => process.exit(0)))
