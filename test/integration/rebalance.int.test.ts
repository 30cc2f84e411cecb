import { afterEach, describe, expect, it } from "vitest"
import { Consistency } from "../../src/generated/pb/cache.js"
import { connect, statusOf } from "../support/clients.js"
import { freePort, type NodeProcess, ringOf, spawnNode } from "../support/nodeProcess.js"

const KEYS = 300

const nodes: Array<NodeProcess> = []
const clients: Array<ReturnType<typeof connect>> = []
afterEach(async () => {
  clients.splice(0).forEach((c) => c.close())
  await Promise.all(nodes.splice(0).map((n) => n.stop("SIGKILL")))
})

const addressesOn = (hosts: ReadonlyArray<number>) =>
  Promise.all(hosts.map(async (h) => `127.0.0.${h}:${await freePort(`127.0.0.${h}`)}`))

const startAll = async (addresses: ReadonlyArray<string>, env: Record<string, string> = {}) => {
  for (const addr of addresses) {
    nodes.push(spawnNode({ ADDR: addr, PEERS: addresses.filter((a) => a !== addr).join(","), RATE_LIMIT: "0", ...env }))
  }
  await Promise.all(nodes.map((n) => n.waitForLog(ringOf(addresses.length))))
  clients.push(...addresses.map((a) => connect(a)))
}

/** Keys that `client` cannot read at ONE; through a replica, ONE answers from the local copy alone. */
const unreadableAtOne = async (client: ReturnType<typeof connect>) => {
  const missing: Array<string> = []
  for (let i = 0; i < KEYS; i++) {
    const read = client.cache.get({ key: `key-${i}`, consistency: Consistency.ONE })
    const status = await statusOf(read.then((r) => {
      if (r.value !== `value-${i}`) throw new Error(`key-${i} = ${r.value}`)
    }))
    if (status !== "OK") missing.push(`key-${i}: ${status}`)
  }
  return missing
}

describe("data movement", () => {
  it("gives a node that joins its share of the keys", { timeout: 120_000 }, async () => {
    const addresses = await addressesOn([66, 67, 68])
    await startAll(addresses)
    for (let i = 0; i < KEYS; i++) await clients[i % 3]!.cache.set({ key: `key-${i}`, value: `value-${i}` })
    const port = await freePort("127.0.0.69")
    const joiner = spawnNode({ ADDR: `127.0.0.69:${port}`, PEERS: addresses[0]!, RATE_LIMIT: "0" })
    nodes.push(joiner)
    await Promise.all(nodes.slice(0, 3).map((n) => n.waitForLog((l) => l["msg"] === "rebalanced after a ring change")))
    const client = connect(joiner.address)
    clients.push(client)
    expect(await unreadableAtOne(client)).toEqual([])
  })

  it("re-replicates the keys of a node removed as dead", { timeout: 120_000 }, async () => {
    const addresses = await addressesOn([70, 71, 72, 73])
    await startAll(addresses, { DEAD_NODE_TIMEOUT: "3" })
    for (let i = 0; i < KEYS; i++) await clients[i % 4]!.cache.set({ key: `key-${i}`, value: `value-${i}` })
    await nodes[3]!.stop("SIGKILL")
    const survivors = nodes.slice(0, 3)
    await Promise.all(survivors.map((n) => n.waitForLog((l) => l["msg"] === "removed dead members from the ring")))
    await Promise.all(survivors.map((n) => n.waitForLog((l) => l["msg"] === "rebalanced after a ring change")))
    // Three members, three replicas: every survivor must now hold every key itself.
    for (const client of clients.slice(0, 3)) expect(await unreadableAtOne(client)).toEqual([])
  })

  it("hands a leaving node's data to the new owners, so no acknowledged write is lost", { timeout: 120_000 }, async () => {
    const addresses = await addressesOn([61, 62, 63, 64, 65])
    await startAll(addresses)
    const a = clients[0]!
    const leaving = nodes[2]!

    // D misses every write (it is down, then comes back empty): each acknowledged write of a
    // key D replicates lives on exactly its two other replicas.
    await nodes[3]!.stop("SIGKILL")
    for (let i = 0; i < KEYS; i++) await a.cache.set({ key: `key-${i}`, value: `value-${i}` })
    nodes[3] = spawnNode({ ADDR: addresses[3]!, PEERS: addresses[0]!, RATE_LIMIT: "0" })
    await nodes[3].waitForLog(ringOf(5))
    const d = connect(addresses[3]!)
    clients.push(d)

    // C leaves gracefully: keys it held with one other node must reach the node that takes its place.
    expect(await leaving.stop("SIGTERM")).toEqual({ code: 0, signal: null })
    const handoff = leaving.logs().find((l) => l["msg"] === "handed off data to the new owners")
    expect(handoff).toBeDefined()
    expect(handoff!["failed"]).toBe(0)
    expect(handoff!["confirmed"]).toBe(handoff!["sent"])
    await nodes[0]!.waitForLog(ringOf(4))
    await nodes[3]!.waitForLog(ringOf(4))

    // Read through D, which holds none of them. A key C shared with one other node now has D,
    // that node and a newcomer as replicas: without the hand-off, D and the newcomer make a
    // quorum that has never seen the write.
    const missing: Array<string> = []
    for (let i = 0; i < KEYS; i++) {
      const status = await statusOf(d.cache.get({ key: `key-${i}` }).then((r) => {
        if (r.value !== `value-${i}`) throw new Error(`key-${i} = ${r.value}`)
      }))
      if (status !== "OK") missing.push(`key-${i}: ${status}`)
    }
    expect(missing).toEqual([])
  })
})
