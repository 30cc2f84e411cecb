import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { createChannel, createClient } from "nice-grpc"
import { AntiEntropyServiceDefinition } from "../../src/generated/cluster/v1/cluster.js"
import type { Consistency } from "../../src/generated/pb/cache.js"
import { connect, statusOf } from "../../testkit/clients.js"
import { type NodeProcess, startNode } from "../../testkit/nodeProcess.js"
import { fileContainingSymbol, listServices } from "../../testkit/reflection.js"

const HOST = "127.0.0.11"


describe("a node started with the real entry point", () => {
  let node: NodeProcess
  let client: ReturnType<typeof connect>

  beforeAll(async () => {
    node = await startNode(HOST, { MAX_VALUE_SIZE: "16KiB", MAX_KEY_SIZE: "64", MAX_RECV_MSG_SIZE: "64KiB" })
    client = connect(node.address)
  })
  afterAll(async () => {
    client?.close()
    const exit = await node?.stop("SIGTERM")
    expect(exit).toEqual({ code: 0, signal: null })
  })

  it("sets, gets and deletes a key, as grpcurl does with {\"key\":\"foo\", \"value\":\"bar\"}", async () => {
    const set = await client.cache.set({ key: "foo", value: "bar" })
    expect(set.version?.hlc).toBeGreaterThan(0)
    const got = await client.cache.get({ key: "foo" })
    expect(got.value).toBe("bar")
    expect(got.valueBytes).toBeUndefined()
    expect(got.version).toEqual(set.version)
    expect(got.ttlRemainingMs).toBeGreaterThan(3_590_000)
    const deleted = await client.cache.delete({ key: "foo" })
    expect(deleted.existed).toBe(true)
    expect(await statusOf(client.cache.get({ key: "foo" }))).toBe("NOT_FOUND: key not found")
  })

  it("answers bad anti-entropy calls with INVALID_ARGUMENT, and calls for another ring epoch with FAILED_PRECONDITION", async () => {
    const channel = createChannel(node.address)
    try {
      const antiEntropy = createClient(AntiEntropyServiceDefinition, channel)
      const drain = async (stream: AsyncIterable<unknown>) => {
        for await (const _ of stream) void _
      }
      expect(await statusOf(drain(antiEntropy.pull({ requester: "", epoch: 1 })))).toBe(
        "INVALID_ARGUMENT: a pull needs a requester (host:port) and the ring epoch it pulls for"
      )
      expect(await statusOf(antiEntropy.digests({ epoch: 1, arcs: [], level: 99 }))).toMatch(/^INVALID_ARGUMENT: no level 99/)
      expect(await statusOf(antiEntropy.digests({ epoch: 7, arcs: [1], level: 0 }))).toMatch(
        /^FAILED_PRECONDITION: .* cannot answer digests for epoch 7 now \(it is at 1\)/
      )
      expect((await antiEntropy.digests({ epoch: 1, arcs: [], level: 0 })).arcs).toEqual([])
    } finally {
      channel.close()
    }
  })

  it("keeps binary values binary", async () => {
    const bytes = Buffer.from([0, 1, 2, 254, 255])
    await client.cache.set({ key: "bin", valueBytes: bytes })
    const got = await client.cache.get({ key: "bin" })
    expect(got.value).toBeUndefined()
    expect(Buffer.from(got.valueBytes!)).toEqual(bytes)
  })

  it("rejects bad input with INVALID_ARGUMENT naming the limit, and keeps what was stored", async () => {
    await client.cache.set({ key: "kept", value: "original" })
    expect(await statusOf(client.cache.set({ key: "", value: "x" }))).toBe("INVALID_ARGUMENT: key must not be empty")
    expect(await statusOf(client.cache.get({ key: "" }))).toBe("INVALID_ARGUMENT: key must not be empty")
    expect(await statusOf(client.cache.set({ key: "k".repeat(65), value: "x" }))).toBe(
      "INVALID_ARGUMENT: key is 65 bytes; the limit is 64 bytes (MAX_KEY_SIZE)"
    )
    expect(await statusOf(client.cache.set({ key: "kept", value: "x".repeat(16 * 1024 + 1) }))).toBe(
      "INVALID_ARGUMENT: value is 16385 bytes; the limit is 16384 bytes (MAX_VALUE_SIZE)"
    )
    expect(await statusOf(client.cache.set({ key: "kept" }))).toContain("INVALID_ARGUMENT: value is required")
    expect(await statusOf(client.cache.set({ key: "kept", value: "y", consistency: 7 as Consistency }))).toBe(
      "INVALID_ARGUMENT: consistency 7 is not one of ONE, QUORUM, ALL"
    )
    expect((await client.cache.get({ key: "kept" })).value).toBe("original")
  })

  it("answers RESOURCE_EXHAUSTED to a message over MAX_RECV_MSG_SIZE, and keeps what was stored", async () => {
    await client.cache.set({ key: "big", value: "original" })
    const status = await statusOf(client.cache.set({ key: "big", value: "x".repeat(65 * 1024) }))
    expect(status).toMatch(/^RESOURCE_EXHAUSTED: .*larger than max/)
    expect((await client.cache.get({ key: "big" })).value).toBe("original")
  })

  it("serves per-request TTLs", async () => {
    await client.cache.set({ key: "ttl", value: "v", ttlSeconds: 100 })
    const got = await client.cache.get({ key: "ttl" })
    expect(got.ttlRemainingMs).toBeGreaterThan(90_000)
    expect(got.ttlRemainingMs).toBeLessThanOrEqual(100_000)
    await client.cache.set({ key: "forever", value: "v", ttlSeconds: 0 })
    expect((await client.cache.get({ key: "forever" })).ttlRemainingMs).toBe(0)
  })

  it("answers health checks with SERVING", async () => {
    expect((await client.health.check({ service: "" })).status).toBe(1)
    expect((await client.health.check({ service: "pb.CacheService" })).status).toBe(1)
  })

  for (const version of ["v1", "v1alpha"] as const) {
    it(`lists and describes pb.CacheService over reflection ${version}`, async () => {
      expect(await listServices(client.channel, version)).toEqual(expect.arrayContaining(["pb.CacheService", "grpc.health.v1.Health"]))
      const [file] = await fileContainingSymbol(client.channel, version, "pb.CacheService")
      expect(file?.name).toBe("pb/cache.proto")
      expect(file?.service.map((s) => s.name)).toEqual(["CacheService"])
      expect(file?.service[0]?.method.map((m) => m.name)).toEqual(["Set", "Get", "Delete"])
      const setRequest = file?.messageType.find((m) => m.name === "SetRequest")
      expect(setRequest?.field.slice(0, 2).map((f) => [f.name, f.number])).toEqual([["key", 1], ["value", 2]])
    })
  }

  it("logs one JSON object per line with time, level and message", () => {
    const lines = node.logs()
    expect(lines.length).toBeGreaterThanOrEqual(3)
    for (const line of lines) {
      expect(line["unparsed"]).toBeUndefined()
      expect(typeof line["time"]).toBe("string")
      expect(["debug", "info", "warn", "warning", "error"]).toContain(line["level"])
    }
    expect(lines.map((l) => l["msg"])).toEqual(expect.arrayContaining(["node starting", "listening", "ready"]))
  })
})
