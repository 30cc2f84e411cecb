import { afterEach, describe, expect, it } from "vitest"
import { createChannel, createClient, Metadata } from "nice-grpc"
import { ReplicaServiceDefinition } from "../../src/generated/cluster/v1/cluster.js"
import { CLUSTER_SECRET_HEADER } from "../../src/protocol/headers.js"
import { Consistency } from "../../src/generated/pb/cache.js"
import { connect, statusOf } from "../../testkit/clients.js"
import { clusterReady, freePort, type NodeProcess, ringOf, spawnNode } from "../../testkit/nodeProcess.js"

type Client = ReturnType<typeof connect>

const running: Array<NodeProcess> = []
const clients: Array<Client> = []
afterEach(async () => {
  clients.splice(0).forEach((c) => c.close())
  await Promise.all(running.splice(0).map((n) => n.stop("SIGKILL")))
})

/** Starts `n` nodes on 127.0.0.(base+i), each with every other as a seed, and waits until all see all. */
const startCluster = async (base: number, n: number, env: Record<string, string> = {}) => {
  const addresses = await Promise.all(
    Array.from({ length: n }, async (_, i) => `127.0.0.${base + i}:${await freePort(`127.0.0.${base + i}`)}`)
  )
  const nodes = addresses.map((addr) =>
    spawnNode({ ADDR: addr, PEERS: addresses.filter((a) => a !== addr).join(","), ...env })
  )
  running.push(...nodes)
  await clusterReady(nodes, n)
  const conns = addresses.map((addr) => connect(addr))
  clients.push(...conns)
  return { nodes, clients: conns, addresses }
}


/** Retries `check` until it returns true (bounded), for conditions that settle asynchronously. */
const eventually = async (check: () => Promise<boolean>, attempts = 100) => {
  for (let i = 0; i < attempts; i++) {
    if (await check()) return
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  throw new Error("condition never held")
}

describe("a three-node cluster of real processes", () => {
  it("reads a value set through one node back through every other", async () => {
    const { clients } = await startCluster(41, 3)
    await clients[0]!.cache.set({ key: "foo", value: "bar" })
    for (const client of clients) expect((await client.cache.get({ key: "foo" })).value).toBe("bar")
    for (let i = 0; i < 30; i++) await clients[i % 3]!.cache.set({ key: `k${i}`, value: `v${i}` })
    for (let i = 0; i < 30; i++) expect((await clients[(i + 1) % 3]!.cache.get({ key: `k${i}` })).value).toBe(`v${i}`)
  })

  it("keeps serving QUORUM with one node killed, logs the failure, refuses QUORUM with two killed", async () => {
    const { clients, nodes, addresses } = await startCluster(44, 3)
    await clients[0]!.cache.set({ key: "k", value: "before" })
    await nodes[2]!.stop("SIGKILL")
    expect((await clients[0]!.cache.set({ key: "k", value: "after" })).version).toBeDefined()
    expect((await clients[1]!.cache.get({ key: "k" })).value).toBe("after")
    await nodes[0]!.waitForLog((l) => l["msg"] === "member dead" && l["member"] === addresses[2])

    await nodes[1]!.stop("SIGKILL")
    expect(await statusOf(clients[0]!.cache.get({ key: "k" }))).toBe(
      "UNAVAILABLE: quorum not reached: 1 of 3 replicas answered, 2 needed"
    )
    // A failed write may still have reached the local replica (its outcome is unknown), so it uses another key.
    expect(await statusOf(clients[0]!.cache.set({ key: "other", value: "x" }))).toMatch(/^UNAVAILABLE: quorum not reached/)
    expect((await clients[0]!.cache.get({ key: "k", consistency: Consistency.ONE })).value).toBe("after")
  })

  it("leaves every replica with the same value and version after many concurrent writers", async () => {
    const { clients, nodes } = await startCluster(47, 3)
    const writes = Array.from({ length: 60 }, (_, i) => clients[i % 3]!.cache.set({ key: "hot", value: `w${i}` }).catch(() => undefined))
    await Promise.all(writes)
    await clients[0]!.cache.get({ key: "hot" }) // settles and repairs
    await eventually(async () => {
      const local = await Promise.all(clients.map((c) => c.cache.get({ key: "hot", consistency: Consistency.ONE })))
      return local.every((r) => r.value === local[0]!.value && r.version?.hlc === local[0]!.version?.hlc)
    })
    // Busy nodes are still healthy nodes: none was declared dead under the load.
    for (const node of nodes) expect(node.logs().filter((l) => l["msg"] === "member dead")).toEqual([])
  })
})

describe("a five-node cluster of real processes", () => {
  it("lets a node started later join through one seed, seen by all, and serve every key", async () => {
    const { clients, nodes } = await startCluster(51, 4)
    const port = await freePort("127.0.0.55")
    const late = spawnNode({ ADDR: `127.0.0.55:${port}`, PEERS: `127.0.0.51:${nodes[0]!.address.split(":")[1]}` })
    running.push(late)
    await late.waitForLog(ringOf(5))
    await Promise.all(nodes.map((node) => node.waitForLog(ringOf(5))))
    const lateClient = connect(late.address)
    clients.push(lateClient)
    for (let i = 0; i < 20; i++) await lateClient.cache.set({ key: `n${i}`, value: `v${i}` })
    for (let i = 0; i < 20; i++) expect((await clients[i % 4]!.cache.get({ key: `n${i}` })).value).toBe(`v${i}`)
  })
})

describe("CLUSTER_SECRET", () => {
  it("lets members with the secret replicate and refuses internal calls without it", async () => {
    const { clients, addresses } = await startCluster(57, 2, { CLUSTER_SECRET: "s3cret-s3cret-s3cret", REPLICATION_FACTOR: "2" })
    await clients[0]!.cache.set({ key: "k", value: "v" }) // needs the other replica (W = 2 of 2)
    expect((await clients[1]!.cache.get({ key: "k" })).value).toBe("v")

    const channel = createChannel(addresses[0]!)
    const replica = createClient(ReplicaServiceDefinition, channel)
    try {
      expect(await statusOf(replica.batch({ ops: [{ key: "k", write: undefined }] }))).toBe(
        "UNAUTHENTICATED: internal service: cluster secret missing or wrong"
      )
      const wrong = { metadata: Metadata({ [CLUSTER_SECRET_HEADER]: "guess" }) }
      expect(await statusOf(replica.batch({ ops: [] }, wrong))).toMatch(/^UNAUTHENTICATED/)
    } finally {
      channel.close()
    }

    // A node with another secret cannot join.
    const port = await freePort("127.0.0.59")
    const stranger = spawnNode({ ADDR: `127.0.0.59:${port}`, PEERS: addresses[0]!, CLUSTER_SECRET: "another-secret-of-ours" })
    running.push(stranger)
    const refused = await stranger.waitForLog((l) => l["msg"] === "a peer refused this node's ring-agreement calls")
    expect(String(refused["reason"])).toContain("UNAUTHENTICATED")
  })
})
