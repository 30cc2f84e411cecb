import { createChannel, createClient } from "nice-grpc"
import { afterEach, describe, expect, it } from "vitest"
import { ReplicaResult_Kind, ReplicaServiceDefinition } from "../../src/generated/cluster/v1/cluster.js"
import { connect, statusOf } from "../../testkit/clients.js"
import { addressesOn, clusterReady, type NodeProcess, spawnNode } from "../../testkit/nodeProcess.js"

/**
 * Versions from peers are untrusted: a replica write whose version lies far
 * in the future (a bad clock, a bug, an attacker) must be refused, store
 * nothing, and not drag any node's clock forward; one from the distant past
 * must change nothing already stored. The cluster keeps serving either way.
 */
const running: Array<NodeProcess> = []
const closers: Array<() => void> = []
afterEach(async () => {
  closers.splice(0).forEach((close) => close())
  await Promise.all(running.splice(0).map((n) => n.stop("SIGKILL")))
})

const HLC_PER_MS = 1024
const YEAR_MS = 365.25 * 24 * 3600 * 1000

const start = async (bases: ReadonlyArray<number>) => {
  const addresses = await addressesOn(bases)
  const nodes = addresses.map((addr) => spawnNode({ ADDR: addr, PEERS: addresses.filter((a) => a !== addr).join(","), RATE_LIMIT: "0" }))
  running.push(...nodes)
  await clusterReady(nodes, nodes.length)
  const clients = addresses.map((address) => connect(address))
  closers.push(...clients.map((c) => c.close))
  return { addresses, clients }
}

/**
 * Sends one replica write straight to `target`, as a peer would, at the
 * target's own epoch (learnt from its WRONG_EPOCH answer); the result's kind.
 */
const forge = async (target: string, key: string, hlc: number, value: string) => {
  const channel = createChannel(target)
  try {
    const client = createClient(ReplicaServiceDefinition, channel)
    let epoch = 1
    for (;;) {
      const response = await client.batch(
        {
          from: "10.255.255.1:8080",
          ops: [{ key, epoch, traceparent: "", write: { version: { hlc, nodeId: 7, generation: 7 }, value, tombstone: false, expiresAtMs: 0 } }]
        },
        { signal: AbortSignal.timeout(5_000) }
      )
      const result = response.results[0]!
      if (result.kind !== ReplicaResult_Kind.KIND_WRONG_EPOCH) return result.kind
      epoch = result.epoch
    }
  } finally {
    channel.close()
  }
}

/**
 * After a forged write of `key` to every node: Sets v1..v3 through every
 * node all land, in order, at versions near the real time; a Delete removes
 * the value. Returns what went wrong, or undefined.
 */
const stillServes = async (clients: ReadonlyArray<ReturnType<typeof connect>>, key: string) => {
  for (const [i, client] of clients.entries()) {
    for (const v of ["v1", "v2", "v3"]) {
      const set = await client.cache.set({ key, value: `${v}-${i}` })
      const wallMs = (set.version?.hlc ?? 0) / HLC_PER_MS
      if (Math.abs(wallMs - Date.now()) > 60_000) return `Set through node ${i} got a version at ${new Date(wallMs).toISOString()}`
      const got = await client.cache.get({ key })
      if (got.value !== `${v}-${i}`) return `after Set ${v}-${i} through node ${i}, Get returned ${JSON.stringify(got.value)}`
    }
  }
  const deleted = await clients[0]!.cache.delete({ key })
  if (!deleted.existed) return "Delete said nothing existed"
  const after = await statusOf(clients[1]!.cache.get({ key }))
  return after.startsWith("NOT_FOUND") ? undefined : `Get after Delete: ${after}`
}

describe("hostile versions against a real three-node cluster", () => {
  it("refuses a write 100 years ahead and keeps serving with the real time", { timeout: 90_000 }, async () => {
    const { addresses, clients } = await start([141, 142, 143])
    const ahead = Math.floor((Date.now() + 100 * YEAR_MS) * HLC_PER_MS)
    const kinds = await Promise.all(addresses.map((a) => forge(a, "future", ahead, "forged")))
    expect(kinds).toEqual(addresses.map(() => ReplicaResult_Kind.KIND_REFUSED))
    expect(await statusOf(clients[0]!.cache.get({ key: "future" }))).toMatch(/^NOT_FOUND/)
    expect(await stillServes(clients, "future")).toBeUndefined()
    // No other key's writes were dragged forward either.
    expect(await stillServes(clients, "other")).toBeUndefined()
  })

  it("refuses a write near 2^53 and keeps versions increasing", { timeout: 90_000 }, async () => {
    const { addresses, clients } = await start([144, 145, 146])
    const kinds = await Promise.all(addresses.map((a) => forge(a, "edge", Number.MAX_SAFE_INTEGER - 3, "forged")))
    expect(kinds).toEqual(addresses.map(() => ReplicaResult_Kind.KIND_REFUSED))
    expect(await stillServes(clients, "edge")).toBeUndefined()
  })

  it("changes nothing stored with a write from a clock set back", { timeout: 90_000 }, async () => {
    const { addresses, clients } = await start([147, 148, 149])
    await clients[0]!.cache.set({ key: "past", value: "real" })
    const kinds = await Promise.all(addresses.map((a) => forge(a, "past", HLC_PER_MS * 1000, "forged")))
    expect(kinds).toEqual(addresses.map(() => ReplicaResult_Kind.KIND_STALE))
    for (const client of clients) expect((await client.cache.get({ key: "past" })).value).toBe("real")
    expect(await stillServes(clients, "past")).toBeUndefined()
  })
})
