import * as grpc from "@grpc/grpc-js"
import { createChannel, createClient } from "nice-grpc"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import {
  AntiEntropyServiceDefinition,
  ReplicaResult_Kind,
  ReplicaServiceDefinition,
  type ReplicaOp
} from "../../src/generated/cluster/v1/cluster.js"
import { GetRequest, SetRequest } from "../../src/generated/pb/cache.js"
import { connect, statusOf } from "../../testkit/clients.js"
import { addressesOn, clusterReady, type NodeProcess, spawnNode } from "../../testkit/nodeProcess.js"

/**
 * Every input is bounded on every path, not only on client calls: the
 * internal services get the same key and value limits, strict UTF-8 keys,
 * and answers sized in bytes, so a hostile or buggy peer cannot store what
 * a client could not, or make a node build an answer it cannot send.
 */
let nodes: Array<NodeProcess> = []
let addresses: Array<string> = []
let clients: Array<ReturnType<typeof connect>> = []

beforeAll(async () => {
  addresses = await addressesOn([140, 141, 142])
  nodes = addresses.map((addr) => spawnNode({ ADDR: addr, PEERS: addresses.filter((a) => a !== addr).join(","), RATE_LIMIT: "0" }))
  await clusterReady(nodes, nodes.length)
  clients = addresses.map((address) => connect(address, { "grpc.max_receive_message_length": 8 * 1024 * 1024 }))
})
afterAll(async () => {
  clients.forEach((c) => c.close())
  await Promise.all(nodes.map((n) => n.stop("SIGKILL")))
})

/** Sends ops straight to `target`'s ReplicaService as a peer would, at its own epoch (learnt from WRONG_EPOCH). */
const asPeer = async (target: string, op: (epoch: number) => ReplicaOp) => {
  const channel = createChannel(target, undefined, { "grpc.max_send_message_length": 8 * 1024 * 1024 })
  try {
    const client = createClient(ReplicaServiceDefinition, channel)
    let epoch = 1
    for (;;) {
      const { results } = await client.batch({ from: "10.255.255.1:8080", ops: [op(epoch)] }, { signal: AbortSignal.timeout(10_000) })
      const result = results[0]!
      if (result.kind !== ReplicaResult_Kind.KIND_WRONG_EPOCH) return result
      epoch = result.epoch
    }
  } finally {
    channel.close()
  }
}

/** The epoch `target` routes with: the one its replica service does not call wrong. */
const currentEpoch = async (target: string) => {
  let epoch = 1
  await asPeer(target, (e) => {
    epoch = e
    return { key: "any", epoch: e, traceparent: "", write: undefined }
  })
  return epoch
}

const rssOf = (pid: number) => import("node:fs").then(({ readFileSync }) => {
  const line = readFileSync(`/proc/${pid}/status`, "utf8").split("\n").find((l) => l.startsWith("VmRSS:"))!
  return Number(line.split(/\s+/)[1]) * 1024
})

/** A raw unary call with exactly these request bytes; the outcome as "OK" or "CODE: details". */
const rawCall = (address: string, path: string, bytes: Buffer) =>
  new Promise<string>((resolve) => {
    const client = new grpc.Client(address, grpc.credentials.createInsecure())
    client.makeUnaryRequest(
      path,
      (b: Buffer) => b,
      (b: Buffer) => b,
      bytes,
      new grpc.Metadata(),
      { deadline: Date.now() + 10_000 },
      (error) => {
        client.close()
        resolve(error === null ? "OK" : `${grpc.status[error.code!]}: ${error.details}`)
      }
    )
  })

describe("every input bounded on every path", () => {
  it("refuses a replica write over MAX_KEY_SIZE / MAX_VALUE_SIZE and stores nothing", async () => {
    const key = "k".repeat(100_000)
    const write = await asPeer(addresses[0]!, (epoch) => ({
      key,
      epoch,
      traceparent: "",
      write: { version: { hlc: 1, nodeId: 7, generation: 7 }, value: "v".repeat(3_000_000), tombstone: false, expiresAtMs: 0 }
    }))
    expect(write.kind).toBe(ReplicaResult_Kind.KIND_REFUSED)
    expect(write.reason).toMatch(/MAX_KEY_SIZE/)
    const value = await asPeer(addresses[0]!, (epoch) => ({
      key: "small-key",
      epoch,
      traceparent: "",
      write: { version: { hlc: 1, nodeId: 7, generation: 7 }, value: "v".repeat(3_000_000), tombstone: false, expiresAtMs: 0 }
    }))
    expect(value.kind).toBe(ReplicaResult_Kind.KIND_REFUSED)
    expect(value.reason).toMatch(/MAX_VALUE_SIZE/)
    const read = await asPeer(addresses[0]!, (epoch) => ({ key: "small-key", epoch, traceparent: "", write: undefined }))
    expect(read.kind).toBe(ReplicaResult_Kind.KIND_ABSENT)
  })

  it("refuses keys that are not valid UTF-8 instead of merging them", async () => {
    const setOf = (keyBytes: Buffer) => {
      // SetRequest with key = keyBytes (field 1, length-delimited) and value "x".
      const valid = Buffer.from(SetRequest.encode(SetRequest.fromPartial({ key: "?", value: "x" })).finish())
      return Buffer.concat([Buffer.from([0x0a, keyBytes.length]), keyBytes, valid.subarray(3)])
    }
    expect(await rawCall(addresses[0]!, "/pb.CacheService/Set", setOf(Buffer.from([0x61, 0xff])))).toMatch(/^INVALID_ARGUMENT: .*UTF-8/)
    expect(await rawCall(addresses[0]!, "/pb.CacheService/Set", setOf(Buffer.from([0x61, 0xfe])))).toMatch(/^INVALID_ARGUMENT: .*UTF-8/)
    const get = Buffer.concat([Buffer.from([0x0a, 2, 0x61, 0xfe])])
    expect(GetRequest.decode(get).key).not.toBe("a")
    expect(await rawCall(addresses[1]!, "/pb.CacheService/Get", get)).toMatch(/^INVALID_ARGUMENT: .*UTF-8/)
    // What a valid key with U+FFFD in it stores stays its own key.
    expect(await statusOf(clients[0]!.cache.set({ key: "a\uFFFD", value: "replacement-char" }))).toBe("OK")
    expect((await clients[2]!.cache.get({ key: "a\uFFFD" })).value).toBe("replacement-char")
  })

  it("survives quoting text that was not valid UTF-8 in an error's details", async () => {
    // PingRequest { from: "127.0.0.1:1" (1), target: 61 ff (2) }: the node answers "this is <self>, not <target>".
    const from = Buffer.from("127.0.0.1:1")
    const ping = Buffer.concat([Buffer.from([0x0a, from.length]), from, Buffer.from([0x12, 2, 0x61, 0xff])])
    expect(await rawCall(addresses[1]!, "/cluster.v1.MembershipService/Ping", ping)).toMatch(/^FAILED_PRECONDITION: this is /)
    expect(await statusOf(clients[1]!.cache.set({ key: "after-ill-formed-details", value: "alive" }))).toBe("OK")
  })

  it("serves many concurrent 1 MB values: replica messages and answers are sized in bytes", async () => {
    const value = (i: number) => `${i}:`.padEnd(1024 * 1024 - 64, "x")
    const keys = Array.from({ length: 12 }, (_, i) => `big-${i}`)
    const sets = await Promise.all(keys.map((key, i) => statusOf(clients[0]!.cache.set({ key, value: value(i) }))))
    expect(sets).toEqual(keys.map(() => "OK"))
    for (let round = 0; round < 3; round++) {
      const gets = await Promise.all(keys.map((key) => clients[round % 3]!.cache.get({ key })))
      expect(gets.map((g) => g.value!.slice(0, 4))).toEqual(keys.map((_, i) => value(i).slice(0, 4)))
    }
  })

  it("answers a Digests request of 800,000 repeated arcs without running out of memory", async () => {
    const channel = createChannel(addresses[2]!, undefined, { "grpc.max_send_message_length": 8 * 1024 * 1024 })
    try {
      const client = createClient(AntiEntropyServiceDefinition, channel)
      // The node's epoch, and its trees built for it: a small honest request is answered.
      const epoch = await currentEpoch(addresses[2]!)
      await expect.poll(() => statusOf(client.digests({ epoch, arcs: [1], level: 0 })), { timeout: 20_000 }).toBe("OK")
      const before = await rssOf(nodes[2]!.child.pid!)
      const outcome = await statusOf(
        client.digests({ epoch, arcs: new Array<number>(800_000).fill(12345), level: 6 }, { signal: AbortSignal.timeout(20_000) })
      )
      expect(outcome).toMatch(/^(INVALID_ARGUMENT|RESOURCE_EXHAUSTED|FAILED_PRECONDITION):/)
      const after = await rssOf(nodes[2]!.child.pid!)
      expect(after - before).toBeLessThan(256 * 1024 * 1024)
      expect(await statusOf(clients[2]!.cache.set({ key: "after-digests", value: "alive" }))).toBe("OK")
    } finally {
      channel.close()
    }
  })
})
