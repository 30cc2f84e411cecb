import { afterAll, describe, expect, it } from "@effect/vitest"
import { status as GrpcStatus } from "@grpc/grpc-js"
import { type CallContext, ClientError, createChannel, createClient, type ServerMiddleware, Status } from "nice-grpc"
import { HealthDefinition, HealthServiceImpl, HealthState } from "nice-grpc-server-health"
import { CacheServiceDefinition } from "../../src/generated/pb/cache.js"
import { type CacheHandlers, CacheServiceGrpcJs } from "../../src/grpc/handlers/cacheHandlers.js"
import { makeGrpcJsServer, niceGrpcInternals } from "../../src/grpc/grpcJsServer.js"
import { freePort } from "../../testkit/nodeProcess.js"

describe("one grpc-js server for nice-grpc services and plain grpc-js handlers", () => {
  const closers: Array<() => void> = []
  afterAll(() => closers.forEach((close) => close()))

  it("finds nice-grpc's adapters in the pinned version's files", () => {
    const internals = niceGrpcInternals()
    for (const adapter of Object.values(internals)) expect(adapter).toBeTypeOf("function")
  })

  it("answers both kinds on one port, runs middleware for the nice-grpc services only, and sends a plain handler's status", async () => {
    const seen: Array<string> = []
    const recording: ServerMiddleware<CallContext> = async function*(call, context) {
      seen.push(call.method.path)
      return yield* call.next(call.request, context)
    }
    const server = makeGrpcJsServer({}, recording)
    server.add(HealthDefinition, HealthServiceImpl(HealthState()))
    const handlers: CacheHandlers = {
      Get: (call, callback) =>
        call.request.key === "missing"
          ? callback({ code: GrpcStatus.NOT_FOUND, details: "no such key" })
          : callback(null, { value: `value of ${call.request.key}`, valueBytes: undefined, version: undefined, ttlRemainingMs: 7 }),
      Set: (_call, callback) => callback({ code: GrpcStatus.UNIMPLEMENTED, details: "not here" }),
      Delete: (_call, callback) => callback({ code: GrpcStatus.UNIMPLEMENTED, details: "not here" })
    }
    server.addGrpcJs(CacheServiceGrpcJs, handlers)
    const address = `127.0.0.1:${await freePort("127.0.0.1")}`
    await server.listen(address)
    closers.push(() => server.forceShutdown())
    const channel = createChannel(address)
    closers.push(() => channel.close())

    const health = createClient(HealthDefinition, channel)
    expect((await health.check({ service: "" })).status).toBe(1) // SERVING
    const cache = createClient(CacheServiceDefinition, channel)
    const found = await cache.get({ key: "a" })
    expect(found.value).toBe("value of a")
    expect(found.ttlRemainingMs).toBe(7)
    const missing = await cache.get({ key: "missing" }).catch((error: unknown) => error)
    expect(missing).toBeInstanceOf(ClientError)
    expect((missing as ClientError).code).toBe(Status.NOT_FOUND)
    expect((missing as ClientError).details).toBe("no such key")

    expect(seen).toEqual(["/grpc.health.v1.Health/Check"])
    await server.shutdown()
  })
})
