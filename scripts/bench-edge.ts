/**
 * The node's own per-call cost, without the network: the pb.CacheService
 * handlers of a one-node core (the layers `pnpm start` builds, SWIM aside)
 * called in-process, many calls in flight, as grpc-js would call them.
 * Isolates what the cache adds on top of gRPC.
 *
 *   pnpm bench:edge [calls=200000] [inFlight=64]
 */
import { Effect, Layer } from "effect"
import { Metadata, type sendUnaryData, type ServerUnaryCall } from "@grpc/grpc-js"
import { CacheApi } from "../src/api/CacheApi.js"
import { NodeConfig } from "../src/config/NodeConfig.js"
import { CallGate, makeCacheHandlers } from "../src/grpc/handlers/cacheHandlers.js"
import { Ring } from "../src/placement/Ring.js"
import { Metrics } from "../src/telemetry/Metrics.js"
import { SoloCore } from "../testkit/layers.js"

const calls = Number(process.argv[2] ?? 200_000)
const inFlight = Number(process.argv[3] ?? 64)
const keys = 1000
const value = "v".repeat(100)

const program = Effect.gen(function*() {
  const handlers = makeCacheHandlers({
    gate: new CallGate(),
    api: yield* CacheApi,
    runtime: yield* Effect.runtime<never>(),
    nowMs: () => Date.now(),
    metrics: yield* Metrics,
    tracing: false,
    sample: () => false,
    keyHash: (yield* Ring).hash
  })
  /** What grpc-js hands a unary handler: the call (only what the handlers use) and the callback, as a promise. */
  const metadata = new Metadata()
  const call = <Req, Res>(handler: (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => void, request: Req) =>
    new Promise<Res | null | undefined>((resolve, reject) =>
      handler(
        { request, metadata, getPeer: () => "bench", once: () => undefined, removeListener: () => undefined } as unknown as ServerUnaryCall<Req, Res>,
        (error, value) => (error === null ? resolve(value) : reject(new Error(error.details ?? "failed")))
      )
    )
  for (let i = 0; i < keys; i++) yield* Effect.promise(() => call(handlers.Set, { key: `k${i}`, value, consistency: 0 }))
  // The best of several rounds: the machine is shared, and the best round is the one least disturbed.
  const run = async (name: string, call: (i: number) => Promise<unknown>) => {
    let best = Infinity
    for (let round = 0; round < 6; round++) {
      let next = 0
      const started = performance.now()
      await Promise.all(Array.from({ length: inFlight }, async () => {
        while (next < calls) await call(next++)
      }))
      if (round > 0) best = Math.min(best, (performance.now() - started) / 1000)
    }
    console.log(`${name}: ${Math.round(calls / best)} calls/s, ${((best * 1e6) / calls).toFixed(2)} µs/call (best of 5 rounds)`)
  }
  const empty = { version: { hlc: 1, nodeId: 1, generation: 1 }, value, ttlRemainingMs: 0 }
  yield* Effect.promise(() => run("harness alone (a handler that answers at once)", () => call((_, callback) => callback(null, empty), {})))
  yield* Effect.promise(() => run("get", (i) => call(handlers.Get, { key: `k${i % keys}`, consistency: 0 })))
  yield* Effect.promise(() => run("set", (i) => call(handlers.Set, { key: `k${i % keys}`, value, consistency: 0 })))
})

await Effect.runPromise(
  Effect.scoped(program.pipe(Effect.provide(SoloCore.pipe(Layer.provide(NodeConfig.layer({ rateLimit: 0, capacity: 100_000 }))))))
)
