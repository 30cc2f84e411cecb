import { createChannel, createClient } from "nice-grpc"
import { afterEach, describe, expect, it } from "vitest"
import { MemberStatus, MembershipServiceDefinition } from "../../src/generated/cluster/v1/cluster.js"
import { adminCall, adminGet } from "../../testkit/admin.js"
import { connect, statusOf } from "../../testkit/clients.js"
import { addressesOn, type NodeProcess, spawnNode } from "../../testkit/nodeProcess.js"

/**
 * Membership input is untrusted: what a bug, a bad clock or an attacker on
 * the network sends to the SWIM port must not change the ring, make keys
 * unreadable, or stop a real node from joining later. Timers are shrunk so
 * that every SWIM timer (suspicion, dead-node removal) passes many times
 * within each observation window.
 */
const ENV = { PROBE_INTERVAL: "0.1", PROBE_TIMEOUT: "0.05", SUSPICION_MULT: "2", DEAD_NODE_TIMEOUT: "0.5", RATE_LIMIT: "0" }
/** How long the cluster is watched after an attack: far beyond suspicion (about 0.2 s) and removal (0.5 s more). */
const WATCH_MS = 4_000
const KEYS = 20

const running: Array<NodeProcess> = []
const closers: Array<() => void> = []
afterEach(async () => {
  closers.splice(0).forEach((close) => close())
  await Promise.all(running.splice(0).map((n) => n.stop("SIGKILL")))
})


/** Waits until every node's /readyz answers 200. */
const allReady = async (admins: ReadonlyArray<string>, timeoutMs = 40_000) => {
  const started = Date.now()
  for (;;) {
    const statuses = await Promise.all(admins.map((admin) => adminGet(admin, "/readyz").then((r) => r.status, () => 0)))
    if (statuses.every((status) => status === 200)) return
    if (Date.now() - started > timeoutMs) throw new Error(`not ready within ${timeoutMs} ms: ${statuses.join(",")}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

const startCluster = async (bases: ReadonlyArray<number>) => {
  const addresses = await addressesOn(bases)
  const nodes = addresses.map((addr) => spawnNode({ ADDR: addr, PEERS: addresses.filter((a) => a !== addr).join(","), ...ENV }))
  running.push(...nodes)
  const admins = await Promise.all(nodes.map((node) => node.adminAddress()))
  await allReady(admins)
  const clients = addresses.map((address) => connect(address))
  closers.push(...clients.map((c) => c.close))
  for (let i = 0; i < KEYS; i++) await clients[i % clients.length]!.cache.set({ key: `key-${i}`, value: `value-${i}` })
  return { nodes, addresses, admins, clients }
}

type Cluster = Awaited<ReturnType<typeof startCluster>>

/** The ring members each node routes with, sorted. */
const ringsOf = (admins: ReadonlyArray<string>) =>
  Promise.all(admins.map(async (admin) => (await adminCall(admin, (c) => c.Ring({ ranges: false }))).members.map((m) => m.address).sort()))

/**
 * Watches the cluster for WATCH_MS: every node keeps routing with exactly
 * the real members, and every key written before reads back, unchanged,
 * through every node. Returns the first problem seen, or undefined.
 */
const watch = async ({ addresses, admins, clients }: Cluster): Promise<string | undefined> => {
  const expected = [...addresses].sort()
  const until = Date.now() + WATCH_MS
  while (Date.now() < until) {
    const rings = await ringsOf(admins)
    const wrong = rings.findIndex((ring) => JSON.stringify(ring) !== JSON.stringify(expected))
    if (wrong >= 0) return `${addresses[wrong]} routes with [${rings[wrong]!.join(",")}]`
    for (let i = 0; i < KEYS; i++) {
      const via = clients[i % clients.length]!
      const got = await statusOf(via.cache.get({ key: `key-${i}` }, { signal: AbortSignal.timeout(3_000) }).then((r) => {
        if (r.value !== `value-${i}`) throw new Error(`key-${i} read ${JSON.stringify(r.value)}`)
      }))
      if (got !== "OK") return `key-${i} through ${addresses[i % clients.length]}: ${got}`
    }
  }
  return undefined
}

const ping = (target: string, gossip: ReadonlyArray<{ address: string; incarnation: number; status: MemberStatus }>) => {
  const channel = createChannel(target)
  const client = createClient(MembershipServiceDefinition, channel)
  return statusOf(client.ping({ from: "10.255.255.1:8080", target, gossip: [...gossip] }, { signal: AbortSignal.timeout(5_000) })).finally(() =>
    channel.close()
  )
}

describe("hostile membership input against a real three-node cluster", () => {
  it("keeps made-up members in a Ping off every ring; every key stays readable", { timeout: 90_000 }, async () => {
    const cluster = await startCluster([121, 122, 123])
    const fakes = [1, 2, 3, 4].map((i) => ({ address: `10.254.0.${i}:8080`, incarnation: 0, status: MemberStatus.MEMBER_STATUS_ALIVE }))
    for (const address of cluster.addresses) await ping(address, fakes)
    expect(await watch(cluster)).toBeUndefined()
  })

  it("keeps a member that a third party says left at the highest incarnation", { timeout: 90_000 }, async () => {
    const cluster = await startCluster([124, 125, 126])
    const victim = cluster.addresses[1]!
    const forged = [{ address: victim, incarnation: 2 ** 32 - 1, status: MemberStatus.MEMBER_STATUS_LEFT }]
    for (const address of cluster.addresses) await ping(address, forged)
    expect(await watch(cluster)).toBeUndefined()
  })

  it("refuses a Ping with a huge update list, and a real node still joins afterwards", { timeout: 120_000 }, async () => {
    const cluster = await startCluster([127, 128, 129])
    const many = Array.from({ length: 70_000 }, (_, i) => ({
      address: `10.${100 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}:8080`,
      incarnation: 0,
      status: MemberStatus.MEMBER_STATUS_ALIVE
    }))
    expect(await ping(cluster.addresses[0]!, many)).toMatch(/^INVALID_ARGUMENT: /)
    expect(await watch(cluster)).toBeUndefined()
    // A real node joining later is taken in by every member.
    const [late] = await addressesOn([130])
    const node = spawnNode({ ADDR: late!, PEERS: cluster.addresses.join(","), ...ENV })
    running.push(node)
    const lateAdmin = await node.adminAddress()
    await allReady([lateAdmin])
    const expected = [...cluster.addresses, late!].sort()
    const started = Date.now()
    let rings = await ringsOf([...cluster.admins, lateAdmin])
    while (!rings.every((ring) => JSON.stringify(ring) === JSON.stringify(expected)) && Date.now() - started < 30_000) {
      await new Promise((resolve) => setTimeout(resolve, 200))
      rings = await ringsOf([...cluster.admins, lateAdmin])
    }
    expect(rings).toEqual([expected, expected, expected, expected])
  })
})
