import { afterEach, describe, expect, it } from "vitest"
import { connect } from "../../testkit/clients.js"
import { missingWrites, steadyLoad, waitUntil } from "../../testkit/load.js"
import { addressesOn, clusterReady, type NodeProcess, ringOf, spawnNode, stableRingWith } from "../../testkit/nodeProcess.js"
import { awaitPlacement } from "../../testkit/placement.js"

/** Keys written before the membership change. */
const PRELOAD = 600
/** Every key must sit on exactly its owners this soon after the change settles. */
const PLACEMENT_WITHIN_MS = 30_000

const nodes: Array<NodeProcess> = []
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.stop("SIGKILL")))
})

const ENV = { CAPACITY: "1000000", RATE_LIMIT: "0", ANTI_ENTROPY_INTERVAL: "1s", DEAD_NODE_TIMEOUT: "3s" }
/** Log lines from now on only: a node logs a stable ring after every change. */


const start = (address: string, peers: ReadonlyArray<string>) => {
  const node = spawnNode({ ADDR: address, PEERS: peers.filter((p) => p !== address).join(","), ...ENV })
  nodes.push(node)
  return node
}

const nextLog = (node: NodeProcess, predicate: (line: Record<string, unknown>) => boolean) => {
  const from = node.logs().length
  return node.waitForLog((line) => predicate(line) && node.logs().indexOf(line) >= from)
}

const startCluster = async (addresses: ReadonlyArray<string>) => {
  const started = addresses.map((address) => start(address, addresses))
  await clusterReady(started, addresses.length)
  const client = connect(addresses[0]!)
  for (let i = 0; i < PRELOAD; i++) await client.cache.set({ key: `pre-${i}`, value: `pre-value-${i}` })
  client.close()
  return started
}

const preloaded = new Map(Array.from({ length: PRELOAD }, (_, i) => [`pre-${i}`, `pre-value-${i}`] as const))

/** The end state every scenario must reach: right placement, every acknowledged write readable. */
const expectSettled = async (members: ReadonlyArray<string>, acked: ReadonlyMap<string, string>) => {
  await awaitPlacement(members, PLACEMENT_WITHIN_MS).catch((e) => {
    for (const n of nodes) for (const l of n.logs()) if (/pull|synced|released|ring|dead|hand|anti-entropy/.test(String(l["msg"]))) console.log(n.address, JSON.stringify(l))
    throw e
  })
  expect(await missingWrites(members[0]!, new Map([...preloaded, ...acked]))).toEqual([])
}

describe("dynamic membership under a steady client load", () => {
  it("grows from 3 to 5 nodes: each joiner pulls its ranges, old owners release them", { timeout: 150_000 }, async () => {
    const addresses = await addressesOn([81, 82, 83, 84, 85])
    const first = addresses.slice(0, 3)
    await startCluster(first)
    const load = steadyLoad(first)
    for (const joiner of addresses.slice(3)) {
      const node = start(joiner, first)
      await node.waitForLog(stableRingWith(joiner))
    }
    const result = await load.stop()
    expect(result.acked.size).toBeGreaterThan(0)
    await expectSettled(addresses, result.acked)
  })

  it("takes two nodes joining at the same moment into the same ranges", { timeout: 150_000 }, async () => {
    const addresses = await addressesOn([76, 77, 78, 79, 80])
    const first = addresses.slice(0, 3)
    await startCluster(first)
    const load = steadyLoad(first)
    const joiners = addresses.slice(3).map((joiner) => start(joiner, first))
    await Promise.all(joiners.map((node) => node.waitForLog(ringOf(5))))
    const result = await load.stop()
    expect(result.acked.size).toBeGreaterThan(0)
    await expectSettled(addresses, result.acked)
  })

  it("shrinks from 5 to 3 nodes by graceful leaves without losing a write", { timeout: 150_000 }, async () => {
    const addresses = await addressesOn([86, 87, 88, 89, 90])
    const started = await startCluster(addresses)
    const stay = addresses.slice(0, 3)
    const load = steadyLoad(stay)
    for (const [i, leaver] of started.slice(3).entries()) {
      const changed = Promise.all(started.slice(0, 3).map((n) => nextLog(n, ringOf(4 - i))))
      expect(await leaver.stop("SIGTERM")).toEqual({ code: 0, signal: null })
      await changed
    }
    const result = await load.stop()
    expect(result.acked.size).toBeGreaterThan(0)
    await expectSettled(stay, result.acked)
  })

  it("takes back a node killed and restarted empty only once it has pulled its ranges", { timeout: 150_000 }, async () => {
    const addresses = await addressesOn([91, 92, 93])
    const started = await startCluster(addresses)
    const load = steadyLoad(addresses.slice(0, 2))
    await started[2]!.stop("SIGKILL")
    // Writes acknowledged while it is down live on the other two only.
    const before = load.ackedCount()
    await waitUntil(() => load.ackedCount() > before + 50, 20_000)
    const restarted = start(addresses[2]!, addresses)
    await restarted.waitForLog(stableRingWith(addresses[2]!))
    const result = await load.stop()
    expect(result.acked.size).toBeGreaterThan(0)
    await expectSettled(addresses, result.acked)
    // Reads through the restarted node see every write, including the ones it missed.
    expect(await missingWrites(addresses[2]!, result.acked)).toEqual([])
  })

  it("re-replicates the keys of a node killed for good once DEAD_NODE_TIMEOUT passes", { timeout: 150_000 }, async () => {
    const addresses = await addressesOn([94, 95, 96, 97])
    const started = await startCluster(addresses)
    const survivors = addresses.slice(0, 3)
    const load = steadyLoad(survivors)
    await started[3]!.stop("SIGKILL")
    await Promise.all(started.slice(0, 3).map((n) => n.waitForLog(ringOf(3))))
    const result = await load.stop()
    expect(result.acked.size).toBeGreaterThan(0)
    await expectSettled(survivors, result.acked)
  })
})
