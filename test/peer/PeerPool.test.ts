import { afterAll, beforeAll, describe, expect, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { createServer, type Server } from "nice-grpc"
import { NodeConfig } from "../../src/config/NodeConfig.js"
import { ReplicaResult_Kind, ReplicaServiceDefinition } from "../../src/generated/cluster/v1/cluster.js"
import { PeerClient } from "../../src/peer/PeerClient.js"
import * as PeerPool from "../../src/peer/PeerPool.js"
import type { ReplicaReply } from "../../src/replication/protocol.js"
import { Telemetry } from "../../src/telemetry/Telemetry.js"
import { freePort } from "../support/nodeProcess.js"

/** A stand-in peer that records every Batch call it receives. */
let server: Server
let address: string
const batches: Array<ReadonlyArray<string>> = []

beforeAll(async () => {
  const port = await freePort("127.0.0.90")
  address = `127.0.0.90:${port}`
  server = createServer()
  server.add(ReplicaServiceDefinition, {
    async batch(request) {
      batches.push(request.ops.map((op) => op.key))
      return {
        results: request.ops.map(() => ({ kind: ReplicaResult_Kind.KIND_APPLIED, version: undefined, expiresAtMs: 0, existed: false }))
      }
    }
  })
  await server.listen(address)
})
afterAll(() => server.shutdown())

const withPool = (peerBatchMax: number) =>
  Effect.provide(PeerPool.layerGrpc.pipe(Layer.provide(NodeConfig.layer({ peerBatchMax })), Layer.provide(Telemetry.layerOff)))

/** Sends `count` replica writes in one event-loop turn and waits for every reply. */
const sendMany = (count: number) =>
  Effect.flatMap(PeerClient, (peers) =>
    Effect.async<ReadonlyArray<ReplicaReply | { _tag: string }>>((resume) => {
      const replies: Array<ReplicaReply | { _tag: string }> = []
      for (let i = 0; i < count; i++) {
        const write = { version: { hlc: i + 1, nodeId: 1, generation: 1 }, value: "v", expiresAtMs: 0 }
        peers.replicate(address, { key: `k${i}`, write }, (reply) => {
          replies.push(reply)
          if (replies.length === count) resume(Effect.succeed(replies))
        })
      }
    }))

describe("PeerPool", () => {
  it.scoped("carries the replica calls of one event-loop turn in one Batch RPC", () =>
    Effect.gen(function*() {
      batches.length = 0
      const replies = yield* sendMany(10)
      expect(replies.every((r) => r._tag === "Applied")).toBe(true)
      expect(batches).toEqual([Array.from({ length: 10 }, (_, i) => `k${i}`)])
    }).pipe(withPool(512)))

  it.scoped("splits a turn's calls into batches of at most PEER_BATCH_MAX", () =>
    Effect.gen(function*() {
      batches.length = 0
      yield* sendMany(10)
      expect(batches.map((b) => b.length)).toEqual([4, 4, 2])
    }).pipe(withPool(4)))

  it.scoped("answers every call with a typed error when the peer is down", () =>
    Effect.gen(function*() {
      const peers = yield* PeerClient
      const port = yield* Effect.promise(() => freePort("127.0.0.91"))
      const reply = yield* Effect.async<{ _tag: string }>((resume) =>
        peers.replicate(`127.0.0.91:${port}`, { key: "k", write: undefined }, (r) => resume(Effect.succeed(r)))
      )
      expect(reply._tag).toBe("PeerUnavailable")
    }).pipe(withPool(512)))
})
