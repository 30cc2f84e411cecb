import * as grpc from "@grpc/grpc-js"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { BatchRequest, BatchResponse, DigestsRequest, ReplicaResult_Kind, StreamRequest } from "../../src/generated/cluster/v1/cluster.js"
import { GetRequest, GetResponse, SetRequest } from "../../src/generated/pb/cache.js"
import { FuzzCluster, LIMITS } from "./support/cluster.js"
import type { FuzzContext } from "./support/messages.js"
import { METHODS } from "./support/methods.js"
import { RssMonitor } from "./support/monitor.js"
import { rawCall, type RawOutcome, statusName } from "./support/rawGrpc.js"
import { FUZZ_TARGETS } from "./support/targets.js"
import { encodeWith, rawUtf8 } from "./support/wire.js"

/**
 * Inputs the fuzz (or its first runs) found that crash, blow up or corrupt
 * a node, each sent once to a live three-node cluster: the node must answer
 * with a proper status, stay alive, stay under the RSS bound, and go on
 * serving. Each test names the finding it pins.
 */
const target = { ...FUZZ_TARGETS.find((t) => t.intruders.length === 0)!, hosts: [217, 218, 219] as const }
const cluster = new FuzzCluster(target)
const monitor = new RssMonitor(() => cluster.nodes, 1024 * 2 ** 20)
let ctx: FuzzContext

beforeAll(async () => {
  await cluster.start()
  ctx = await cluster.context(LIMITS)
  monitor.start()
}, 120_000)

afterAll(async () => {
  monitor.stop()
  await cluster.stop()
})

const DEADLINE_MS = 15_000
const { replica, cache, antiEntropy } = METHODS
const nowHlc = () => Date.now() * 1024
const status = (o: RawOutcome) => `${statusName(o.code)}: ${o.details}`

/** A replica write as a member sends it, at the cluster's epoch. */
const replicaWrite = (key: string, payload: { value: string } | { valueBytes: Buffer }) =>
  encodeWith(BatchRequest, {
    from: cluster.addresses[1]!,
    ops: [{ key, traceparent: "", epoch: ctx.epoch, write: { version: { hlc: nowHlc(), nodeId: 9, generation: 9 }, tombstone: false, expiresAtMs: 0, ...payload } }]
  })

const replicaRead = (key: string) => encodeWith(BatchRequest, { from: cluster.addresses[1]!, ops: [{ key, traceparent: "", epoch: ctx.epoch, write: undefined }] })

/** Node `i` is alive, under the RSS bound, and answers a client call with a status. */
const stillServes = async (i: number) => {
  monitor.sample()
  expect(monitor.blowups.filter((b) => b.node === i).map((b) => `node ${i} reached ${(b.rssBytes / 2 ** 20).toFixed(0)} MiB`)).toEqual([])
  expect(cluster.dead()).toEqual([])
  const probe = await rawCall(cluster.raw(target.client, i), cache["Get"]!, [encodeWith(GetRequest, { key: "probe", consistency: 0 })], { deadlineMs: DEADLINE_MS })
  expect(status(probe)).toBe("NOT_FOUND: key not found")
}

describe("fuzz findings, pinned", () => {
  it("(2) refuses a replica write of a 100 KB key with a 3 MB value: INVALID_ARGUMENT (MAX_KEY_SIZE, MAX_VALUE_SIZE)", async () => {
    const outcome = await rawCall(cluster.raw(target.member, 0), replica["Batch"]!, [replicaWrite("k".repeat(100_000), { valueBytes: Buffer.alloc(3_000_000, 7) })], {
      deadlineMs: DEADLINE_MS,
      keepResponses: true
    })
    const kinds = outcome.responses.flatMap((r) => BatchResponse.decode(r).results.map((x) => ReplicaResult_Kind[x.kind]))
    expect({ status: statusName(outcome.code), kinds }).toEqual({ status: "INVALID_ARGUMENT", kinds: [] })
    await stillServes(0)
  })

  it("(3) refuses a replica write whose key is not UTF-8 (61 ff), which would land on another key (61 fe)", async () => {
    const write = await rawCall(cluster.raw(target.member, 0), replica["Batch"]!, [replicaWrite(rawUtf8(Uint8Array.from([0x61, 0xff])), { value: "written as 61 ff" })], {
      deadlineMs: DEADLINE_MS
    })
    const read = await rawCall(cluster.raw(target.member, 0), replica["Batch"]!, [replicaRead(rawUtf8(Uint8Array.from([0x61, 0xfe])))], {
      deadlineMs: DEADLINE_MS,
      keepResponses: true
    })
    const found = read.responses.flatMap((r) => BatchResponse.decode(r).results).find((x) => x.kind === ReplicaResult_Kind.KIND_FOUND)
    expect({ write: statusName(write.code), readOf61fe: found?.value }).toEqual({ write: "INVALID_ARGUMENT", readOf61fe: undefined })
    await stillServes(0)
  })

  it("(3) refuses a client Set whose key is not UTF-8 (62 ff), which would land on another key (62 fe)", async () => {
    const set = await rawCall(cluster.raw(target.client, 1), cache["Set"]!, [encodeWith(SetRequest, { key: rawUtf8(Uint8Array.from([0x62, 0xff])), value: "written as 62 ff", consistency: 0 })], {
      deadlineMs: DEADLINE_MS
    })
    const get = await rawCall(cluster.raw(target.client, 2), cache["Get"]!, [encodeWith(GetRequest, { key: rawUtf8(Uint8Array.from([0x62, 0xfe])), consistency: 0 })], {
      deadlineMs: DEADLINE_MS,
      keepResponses: true
    })
    const value = get.responses[0] === undefined ? undefined : GetResponse.decode(get.responses[0]).value
    expect({ set: statusName(set.code), getOf62fe: value }).toEqual({ set: "INVALID_ARGUMENT", getOf62fe: undefined })
    await stillServes(1)
  })

  it("(4) answers five concurrent Gets of 1 MiB values through one node (replica answers grouped by bytes, not count)", async () => {
    const client = cluster.cache(0)
    const values = Array.from({ length: 5 }, (_, i) => Buffer.alloc(LIMITS.maxValueBytes, 0x30 + i))
    for (const [i, valueBytes] of values.entries()) await client.set({ key: `one-mib-${i}`, valueBytes }, { signal: AbortSignal.timeout(DEADLINE_MS) })
    // Three rounds: the five reads must reach the coordinator in one event-loop turn to travel in one replica message.
    for (let round = 0; round < 3; round++) {
      const reads = await Promise.all(values.map((_, i) =>
        rawCall(cluster.raw(target.client, 1), cache["Get"]!, [encodeWith(GetRequest, { key: `one-mib-${i}`, consistency: 0 })], { deadlineMs: DEADLINE_MS, keepResponses: true })
      ))
      expect(reads.map((r) => r.code === grpc.status.OK ? "OK" : status(r))).toEqual(values.map(() => "OK"))
      expect(reads.map((r, i) => Buffer.compare(GetResponse.decode(r.responses[0]!).valueBytes!, values[i]!))).toEqual(values.map(() => 0))
    }
    await stillServes(1)
  })

  it("(5) ends a replica Stream with a status when its third message is undecodable and all three arrive while the node is busy", async () => {
    // Found by the fuzz (data plane, seed 1): a Stream of [a 1 MiB write, an empty batch, a message that does not decode]
    // sent to a node busy with other calls got no status at all, only the client's deadline. SIGSTOP stands in for busy.
    const messages = [
      replicaWrite("stream-1mib", { valueBytes: Buffer.alloc(LIMITS.maxValueBytes, 1) }),
      encodeWith(StreamRequest, { from: "", ops: [] }),
      encodeWith(StreamRequest, { from: "", ops: [{ key: "k", traceparent: "", epoch: (2n ** 64n - 1n) as unknown as number, write: undefined }] })
    ]
    for (let attempt = 0; attempt < 2; attempt++) {
      const node = cluster.nodes[1]!.child
      node.kill("SIGSTOP")
      const resume = setTimeout(() => node.kill("SIGCONT"), 3_000)
      const outcome = await rawCall(cluster.raw(target.member, 1), replica["Stream"]!, messages, { deadlineMs: 20_000 })
      clearTimeout(resume)
      node.kill("SIGCONT")
      expect({ attempt, status: outcome.hang ? `no status within 20 s (${statusName(outcome.code)})` : statusName(outcome.code) }).toEqual({ attempt, status: "INTERNAL" })
    }
    await stillServes(1)
  }, 60_000)

  // Last: on main this one takes node 2 down.
  it("(1) answers a Digests request of 800,000 repeats of one arc at the leaf level without blowing the node's memory", async () => {
    const request = encodeWith(DigestsRequest, { arcs: new Array<number>(800_000).fill(ctx.tokens[0]!), level: 6, epoch: ctx.epoch })
    expect(request.length).toBeLessThan(LIMITS.maxMessageBytes) // it is admitted: the node must bound what it builds from it
    const outcome = await rawCall(cluster.raw(target.member, 2), antiEntropy["Digests"]!, [request], { deadlineMs: 30_000 })
    await stillServes(2)
    // Refusing it (INVALID_ARGUMENT, RESOURCE_EXHAUSTED) or answering within the send limit are both fine; dying is not.
    expect(outcome.hang).toBe(false)
    expect(["OK", "INVALID_ARGUMENT", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION"]).toContain(statusName(outcome.code))
  }, 60_000)
})
