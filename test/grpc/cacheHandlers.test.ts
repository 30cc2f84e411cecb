import { describe, expect, it } from "@effect/vitest"
import type * as grpc from "@grpc/grpc-js"
import { Effect, Exit, Runtime } from "effect"
import { Status } from "nice-grpc"
import type { CacheApi } from "../../src/api/CacheApi.js"
import type * as pb from "../../src/generated/pb/cache.js"
import { CallGate, makeCacheHandlers } from "../../src/grpc/handlers/cacheHandlers.js"
import type { Metrics } from "../../src/telemetry/Metrics.js"

/** The handlers over a stand-in API, untraced, with the statuses they count. */
const handlersOver = (api: Partial<CacheApi>) => {
  const gate = new CallGate()
  const counted: Array<string> = []
  const handlers = makeCacheHandlers({
    gate,
    api: api as CacheApi,
    runtime: Runtime.defaultRuntime,
    nowMs: () => 0,
    metrics: { request: (_method: string, status: string) => counted.push(status) } as unknown as Metrics,
    tracing: false,
    sample: () => false,
    keyHash: () => 0
  })
  return { gate, counted, handlers }
}

const getCall = (request: pb.GetRequest) =>
  ({ request, getPeer: () => "test", once: () => undefined, removeListener: () => undefined }) as unknown as grpc.ServerUnaryCall<pb.GetRequest, pb.GetResponse>

/** Calls Get and resolves with what it answered. */
const get = (handlers: ReturnType<typeof handlersOver>["handlers"], request: pb.GetRequest) =>
  new Promise<{ error: Partial<grpc.StatusObject> | null; response: pb.GetResponse | undefined }>((resolve) =>
    handlers.Get(getCall(request), (error, response) => resolve({ error: error as Partial<grpc.StatusObject> | null, response: response ?? undefined }))
  )

describe("cache handlers", () => {
  it("answers INTERNAL for a defect thrown on the callback path, and the call leaves the drain gate", async () => {
    const { counted, gate, handlers } = handlersOver({
      getNow: () => {
        throw new Error("a bug in the read path")
      }
    })
    const { error } = await get(handlers, { key: "k", consistency: 0 })
    expect(error?.code).toBe(Status.INTERNAL)
    expect(error?.details).toBe("internal error")
    expect(gate.inFlight).toBe(0)
    expect(counted).toEqual(["INTERNAL"])
  })

  it("answers once even when the callback path reports after it threw", async () => {
    let report: ((exit: Exit.Exit<never, never>) => void) | undefined
    const { gate, handlers } = handlersOver({
      getNow: (_key, _consistency, _client, done) => {
        report = done as typeof report
        throw new Error("threw after taking the callback")
      }
    })
    const calls: Array<unknown> = []
    handlers.Get(getCall({ key: "k", consistency: 0 }), (error) => calls.push(error))
    report!(Exit.succeed(undefined as never))
    expect(calls).toHaveLength(1)
    expect(gate.inFlight).toBe(0)
  })

  it("refuses a consistency level outside the enum with INVALID_ARGUMENT, naming it", async () => {
    const { handlers } = handlersOver({ get: () => Effect.die("not reached") })
    const { error } = await get(handlers, { key: "k", consistency: 9 as pb.Consistency })
    expect(error?.code).toBe(Status.INVALID_ARGUMENT)
    expect(error?.details).toContain("consistency 9")
  })
})
