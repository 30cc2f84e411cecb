import { afterEach, describe, expect, it } from "vitest"
import { connect, statusOf } from "../../testkit/clients.js"
import { addressesOn, clusterReady, type NodeProcess, ringOf, spawnNode, stableRingWith } from "../../testkit/nodeProcess.js"

const KEYS = 300

const nodes: Array<NodeProcess> = []
const clients: Array<ReturnType<typeof connect>> = []
afterEach(async () => {
  clients.splice(0).forEach((c) => c.close())
  await Promise.all(nodes.splice(0).map((n) => n.stop("SIGKILL")))
})


const startAll = async (addresses: ReadonlyArray<string>, env: Record<string, string> = {}) => {
  for (const addr of addresses) {
    nodes.push(spawnNode({ ADDR: addr, PEERS: addresses.filter((a) => a !== addr).join(","), RATE_LIMIT: "0", ...env }))
  }
  await clusterReady(nodes, addresses.length)
  clients.push(...addresses.map((a) => connect(a)))
}

describe("graceful leave", () => {
  it("lets the members taking over a leaving node's ranges copy them from it, so no acknowledged write is lost", { timeout: 120_000 }, async () => {
    const addresses = await addressesOn([61, 62, 63, 64, 65])
    await startAll(addresses)
    const a = clients[0]!
    const leaving = nodes[2]!

    // D misses every write (it is down, then comes back empty): each acknowledged write of a
    // key D replicates lives on exactly its two other replicas.
    await nodes[3]!.stop("SIGKILL")
    for (let i = 0; i < KEYS; i++) await a.cache.set({ key: `key-${i}`, value: `value-${i}` })
    nodes[3] = spawnNode({ ADDR: addresses[3]!, PEERS: addresses[0]!, RATE_LIMIT: "0" })
    // A new process at D's address: a new member that replaces the old one and pulls its ranges first.
    await nodes[3].waitForLog(stableRingWith(addresses[3]!))
    const d = connect(addresses[3]!)
    clients.push(d)

    // C leaves gracefully: it stays a replica until a ring without it is agreed, so the members
    // that take over its ranges copy them from it (with the others) before reads move to them.
    expect(await leaving.stop("SIGTERM")).toEqual({ code: 0, signal: null })
    expect(leaving.logs().find((l) => l["msg"] === "left the ring")).toMatchObject({ outcome: "left" })
    await nodes[0]!.waitForLog(ringOf(4))
    await nodes[3]!.waitForLog(ringOf(4))

    // Read through D. A key C shared with one other node now has D, that node and a newcomer as
    // replicas: had the newcomer not copied it before reads moved, D and the newcomer would make a
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
