import { randomBytes } from "node:crypto"
import { Metadata } from "nice-grpc"
import { afterEach, describe, expect, it } from "vitest"
import { loadXxHash32 } from "../../src/ring/keyHash.js"
import { connect } from "../../testkit/clients.js"
import { clusterReady, freePort, type NodeProcess, spawnNode, startNode } from "../../testkit/nodeProcess.js"
import { type ReceivedSpan, startOtlpReceiver } from "../../testkit/otlpReceiver.js"

const running: Array<NodeProcess> = []
const cleanups: Array<() => unknown> = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup()
  await Promise.all(running.splice(0).map((n) => n.stop("SIGKILL")))
})

const SERVER = 2
const CLIENT = 3
const INTERNAL = 1

/** A W3C traceparent for a sampled client span of our own. */
const clientSpan = () => {
  const traceId = randomBytes(16).toString("hex")
  const spanId = randomBytes(8).toString("hex")
  return { traceId, spanId, metadata: Metadata({ traceparent: `00-${traceId}-${spanId}-01` }) }
}

describe("tracing across a three-node cluster (OTLP to a test receiver)", () => {
  it("turns one sampled client call into one trace: the coordinator's server span, a child per replica call, each replica's own span under it", async () => {
    const receiver = await startOtlpReceiver("127.0.0.61")
    cleanups.push(receiver.close)
    const addresses = await Promise.all([61, 62, 63].map(async (i) => `127.0.0.${i}:${await freePort(`127.0.0.${i}`)}`))
    const nodes = addresses.map((addr) =>
      spawnNode({
        ADDR: addr,
        PEERS: addresses.filter((a) => a !== addr).join(","),
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
        OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
        // Roots are never sampled: only calls whose caller sampled them are traced.
        OTEL_TRACES_SAMPLER: "parentbased_always_off",
        OTEL_BSP_SCHEDULE_DELAY: "100"
      })
    )
    running.push(...nodes)
    await clusterReady(nodes, 3)
    const client = connect(addresses[0]!)
    cleanups.push(client.close)
    const hash = await loadXxHash32()
    // Keys can be personal data: spans carry the key's ring hash, never the key.
    const key = "user:alice@example.com"

    await client.cache.set({ key: "untraced", value: "x" })
    const set = clientSpan()
    await client.cache.set({ key, value: "v1" }, { metadata: set.metadata })
    const get = clientSpan()
    expect((await client.cache.get({ key }, { metadata: get.metadata })).value).toBe("v1")

    const ofTrace = (traceId: string) => receiver.spans().filter((s) => s.traceId === traceId)
    // Per call: a server span, three replica calls (a read asks every replica too), two remote replicas' spans.
    await receiver.waitFor(() => ofTrace(set.traceId).length >= 6 && ofTrace(get.traceId).length >= 6)

    for (const [call, method, op, outcome] of [[set, "Set", "write", "written"], [get, "Get", "read", "read"]] as const) {
      const spans = ofTrace(call.traceId)
      const server = spans.filter((s) => s.name === `pb.CacheService/${method}`)
      expect(server).toHaveLength(1)
      const root = server[0]!
      expect(root).toMatchObject({ instance: addresses[0], kind: SERVER, parentSpanId: call.spanId })
      expect(root.attributes).toMatchObject({
        "rpc.system": "grpc",
        "rpc.service": "pb.CacheService",
        "rpc.method": method,
        "rpc.grpc.status_code": 0,
        "cache.key_hash": hash(key).toString(16).padStart(8, "0"),
        "cache.consistency": "QUORUM",
        "cache.quorum.outcome": outcome
      })

      const replicaCalls = spans.filter((s) => s.name === `replica ${op}`)
      expect(replicaCalls.map((s) => s.attributes["cache.replica"]).sort()).toEqual([...addresses].sort())
      for (const span of replicaCalls) {
        expect(span).toMatchObject({ instance: addresses[0], parentSpanId: root.spanId })
        expect(span.kind).toBe(span.attributes["cache.replica"] === addresses[0] ? INTERNAL : CLIENT)
      }

      const remote = spans.filter((s) => s.name === "cluster.v1.ReplicaService/Batch")
      expect(remote).toHaveLength(2)
      for (const span of remote) {
        const caller = replicaCalls.find((s) => s.spanId === span.parentSpanId)
        expect(caller, "a replica's span is the child of the coordinator's call to that replica").toBeDefined()
        expect(span.instance).toBe(caller!.attributes["cache.replica"])
        expect(span.kind).toBe(SERVER)
        expect(span.attributes).toMatchObject({ "rpc.service": "cluster.v1.ReplicaService", "cache.op": op, "cache.key_hash": root.attributes["cache.key_hash"] })
      }
    }

    // Nothing was recorded for the call that was not sampled, and no span names the key.
    const traced = new Set([set.traceId, get.traceId])
    expect(receiver.spans().filter((s: ReceivedSpan) => !traced.has(s.traceId))).toEqual([])
    expect(JSON.stringify(receiver.spans())).not.toContain(key)
  })

  it("exports OTLP/protobuf by default, and samples every root with always_on", async () => {
    const receiver = await startOtlpReceiver("127.0.0.64")
    cleanups.push(receiver.close)
    const node = await startNode("127.0.0.64", {
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
      OTEL_TRACES_SAMPLER: "always_on",
      OTEL_BSP_SCHEDULE_DELAY: "100"
    })
    running.push(node)
    await node.waitForLog((line) => line["msg"] === "tracing on" && line["protocol"] === "http/protobuf")
    const client = connect(node.address)
    cleanups.push(client.close)
    await client.cache.set({ key: "k", value: "v" })
    await receiver.waitFor(() => receiver.protobufBodies().some((body) => body.includes("pb.CacheService/Set")))
    expect(receiver.spans()).toEqual([])
  })
})
