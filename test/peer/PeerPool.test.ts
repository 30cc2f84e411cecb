import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Layer, TestClock } from "effect"
import { createServer, type Server } from "nice-grpc"
import { NodeConfig } from "../../src/config/NodeConfig.js"
import { MembershipServiceDefinition, type ReplicaOp, ReplicaResult_Kind, ReplicaServiceDefinition } from "../../src/generated/cluster/v1/cluster.js"
import { PeerClient } from "../../src/peer/PeerClient.js"
import * as PeerPool from "../../src/peer/PeerPool.js"
import type { ReplicaReply } from "../../src/protocol/replica.js"
import { Tls } from "../../src/security/Tls.js"
import { Metrics } from "../../src/telemetry/Metrics.js"
import { Telemetry } from "../../src/telemetry/Telemetry.js"
import { freePort } from "../../testkit/nodeProcess.js"

/** Stand-in peers that record every batch they receive and how it came. */
const servers: Array<Server> = []
const received: Array<{ readonly via: "Batch" | "Stream"; readonly keys: ReadonlyArray<string> }> = []
const applied = (ops: ReadonlyArray<ReplicaOp>) => ({
  results: ops.map(() => ({ kind: ReplicaResult_Kind.KIND_APPLIED, version: undefined, expiresAtMs: 0, existed: false }))
})
let current: string
let legacy: string
let silent: string
let deaf: string
/** Resolved when the deaf peer sees a Ping it never answers cancelled by its caller. */
let pingCancelled: Promise<void>

const listen = async (host: string, add: (server: Server) => void) => {
  const address = `${host}:${await freePort(host)}`
  const server = createServer()
  add(server)
  await server.listen(address)
  servers.push(server)
  return address
}

beforeAll(async () => {
  current = await listen("127.0.0.90", (server) =>
    server.add(ReplicaServiceDefinition, {
      async batch(request) {
        received.push({ via: "Batch", keys: request.ops.map((op) => op.key) })
        return applied(request.ops)
      },
      async *stream(requests) {
        for await (const request of requests) {
          received.push({ via: "Stream", keys: request.ops.map((op) => op.key) })
          yield applied(request.ops)
        }
      }
    }))
  // A peer of an older version: Batch only (Stream answers UNIMPLEMENTED).
  legacy = await listen("127.0.0.92", (server) =>
    server.add({ ...ReplicaServiceDefinition, methods: { batch: ReplicaServiceDefinition.methods.batch } }, {
      async batch(request) {
        received.push({ via: "Batch", keys: request.ops.map((op) => op.key) })
        return applied(request.ops)
      }
    }))
  // A peer that takes batches and never answers them.
  silent = await listen("127.0.0.93", (server) =>
    server.add(ReplicaServiceDefinition, {
      async batch() {
        return await new Promise<never>(() => undefined)
      },
      async *stream(requests) {
        for await (const _ of requests) void _
      }
    }))
})
beforeAll(async () => {
  let cancelled!: () => void
  pingCancelled = new Promise((resolve) => (cancelled = resolve))
  // A peer that takes Pings and never answers them, telling when a caller gives up.
  deaf = await listen("127.0.0.94", (server) =>
    server.add(MembershipServiceDefinition, {
      async ping(_request, context) {
        return await new Promise<never>(() => context.signal.addEventListener("abort", cancelled))
      },
      async pingReq() {
        return await new Promise<never>(() => undefined)
      }
    }))
})
afterAll(() => Promise.all(servers.map((server) => server.forceShutdown())))

const withPool = (peerBatchMax: number, rpcTimeout = Duration.seconds(5)) =>
  Effect.provide(
    PeerPool.layerGrpc.pipe(
      Layer.provideMerge(Layer.mergeAll(Tls.Default, Telemetry.layerOff, Metrics.Default)),
      Layer.provide(NodeConfig.layer({ peerBatchMax, rpcTimeout }))
    )
  )

/** How many peer connections the pool holds open, from its gauge. */
const openConnections = Effect.flatMap(Metrics, (metrics) =>
  Effect.promise(async () => (await metrics.registry.getSingleMetric("cache_peer_connections")!.get()).values[0]?.value))

/** Sends `count` replica writes to `address` in one event-loop turn and waits for every reply. */
const sendMany = (address: string, count: number) =>
  Effect.flatMap(PeerClient, (peers) =>
    Effect.async<ReadonlyArray<ReplicaReply | { _tag: string }>>((resume) => {
      const replies: Array<ReplicaReply | { _tag: string }> = []
      for (let i = 0; i < count; i++) {
        const write = { version: { hlc: i + 1, nodeId: 1, generation: 1 }, value: "v", expiresAtMs: 0 }
        peers.replicate(address, { key: `k${i}`, write, epoch: 1 }, (reply) => {
          replies.push(reply)
          if (replies.length === count) resume(Effect.succeed(replies))
        })
      }
    }))

const keys = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => `k${from + i}`)

describe("PeerPool", () => {
  it.scoped("carries the replica calls of one event-loop turn as one message of the peer's Stream", () =>
    Effect.gen(function*() {
      received.length = 0
      const replies = yield* sendMany(current, 10)
      expect(replies.every((r) => r._tag === "Applied")).toBe(true)
      const again = yield* sendMany(current, 3)
      expect(again.every((r) => r._tag === "Applied")).toBe(true)
      expect(received).toEqual([{ via: "Stream", keys: keys(0, 10) }, { via: "Stream", keys: keys(0, 3) }])
    }).pipe(withPool(512)))

  it.scoped("splits a turn's calls into batches of at most PEER_BATCH_MAX", () =>
    Effect.gen(function*() {
      received.length = 0
      yield* sendMany(current, 10)
      expect(received.map((b) => b.keys.length)).toEqual([4, 4, 2])
    }).pipe(withPool(4)))

  it.scoped("falls back to Batch calls for a peer without Stream", () =>
    Effect.gen(function*() {
      received.length = 0
      expect((yield* sendMany(legacy, 5)).every((r) => r._tag === "Applied")).toBe(true)
      expect((yield* sendMany(legacy, 2)).every((r) => r._tag === "Applied")).toBe(true)
      expect(received).toEqual([{ via: "Batch", keys: keys(0, 5) }, { via: "Batch", keys: keys(0, 2) }])
    }).pipe(withPool(512)))

  it.scopedLive("fails the batches of a peer that stops answering after RPC_TIMEOUT, with a typed error", () =>
    Effect.gen(function*() {
      const replies = yield* sendMany(silent, 3)
      expect(replies.map((r) => r._tag)).toEqual(["PeerTimeout", "PeerTimeout", "PeerTimeout"])
    }).pipe(withPool(512, Duration.millis(300))))

  it.scoped("closes a connection no call has used for over a minute, and opens it again for the next call", () =>
    Effect.gen(function*() {
      expect((yield* sendMany(current, 2)).every((r) => r._tag === "Applied")).toBe(true)
      expect(yield* openConnections).toBe(1)
      // The replica path lets go of it 10-20 s after its last batch; the connection closes a minute after that.
      yield* TestClock.adjust(Duration.seconds(65))
      expect(yield* openConnections).toBe(1)
      yield* TestClock.adjust(Duration.seconds(20))
      expect(yield* openConnections).toBe(0)
      expect((yield* sendMany(current, 2)).every((r) => r._tag === "Applied")).toBe(true)
      expect(yield* openConnections).toBe(1)
    }).pipe(withPool(512)))

  it.scopedLive("cancels a peer call whose fiber is interrupted, long before RPC_TIMEOUT", () =>
    Effect.gen(function*() {
      const peers = yield* PeerClient
      const probe = { from: "127.0.0.1:1", generation: 1, epoch: 1, target: deaf, gossip: [] }
      const outcome = yield* peers.ping(deaf, probe).pipe(Effect.timeoutOption(Duration.millis(100)))
      expect(outcome._tag).toBe("None")
      // Without cancellation the deaf peer would hold the call for the hour below and the test would time out.
      yield* Effect.promise(() => pingCancelled)
    }).pipe(withPool(512, Duration.hours(1))))

  it.scoped("answers every call with a typed error when the peer is down", () =>
    Effect.gen(function*() {
      const peers = yield* PeerClient
      const port = yield* Effect.promise(() => freePort("127.0.0.91"))
      const reply = yield* Effect.async<{ _tag: string }>((resume) =>
        peers.replicate(`127.0.0.91:${port}`, { key: "k", write: undefined, epoch: 1 }, (r) => resume(Effect.succeed(r)))
      )
      expect(reply._tag).toBe("PeerUnavailable")
    }).pipe(withPool(512)))
})
