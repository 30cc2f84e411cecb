import { describe, expect, it } from "vitest"
import { ClientError, Status } from "nice-grpc"
import { connect, statusOf } from "../../testkit/clients.js"
import { spawnNode, startNode } from "../../testkit/nodeProcess.js"

const HOST = "127.0.0.12"

describe("node start-up and shutdown", () => {
  const badSettings: ReadonlyArray<readonly [Record<string, string>, string]> = [
    [{ NUM_SHARDS: "abc" }, "NUM_SHARDS"],
    [{ NUM_SHARDS: "0" }, "NUM_SHARDS"],
    [{ CAPACITY: "-5" }, "CAPACITY"],
    [{ ADDR: "nohost" }, "ADDR"],
    [{ RPC_TIMEOUT: "fast" }, "RPC_TIMEOUT"]
  ]
  for (const [env, variable] of badSettings) {
    it(`refuses to start with ${JSON.stringify(env)} and names ${variable}`, async () => {
      const node = spawnNode({ ADDR: `${HOST}:1`, ...env })
      const exit = await node.exited
      expect(exit.code).not.toBe(0)
      expect(exit.code).not.toBeNull()
      const lines = node.stderr().trim().split("\n")
      expect(lines).toHaveLength(1)
      expect(lines[0]).toMatch(new RegExp(`^invalid configuration: ${variable}: `))
    })
  }

  it("exits non-zero with a clear line when the address is taken", async () => {
    const first = await startNode(HOST)
    const second = spawnNode({ ADDR: first.address })
    const exit = await second.exited
    expect(exit.code).not.toBe(0)
    expect(second.stderr()).toContain(`start-up failed: cannot listen on ${first.address}`)
    expect(await first.stop()).toEqual({ code: 0, signal: null })
  })

  it("answers RESOURCE_EXHAUSTED over the rate limit", async () => {
    const node = await startNode(HOST, { RATE_LIMIT: "0.001", RATE_LIMIT_BURST: "3", RATE_LIMIT_PER_CLIENT: "0" })
    const client = connect(node.address)
    try {
      for (let i = 0; i < 3; i++) await client.cache.set({ key: `k${i}`, value: "v" })
      const refused = await client.cache.get({ key: "k0" }).catch((e: unknown) => e)
      expect(refused).toBeInstanceOf(ClientError)
      expect((refused as ClientError).code).toBe(Status.RESOURCE_EXHAUSTED)
      expect((refused as ClientError).details).toMatch(/^rate limit exceeded; retry in \d+ ms$/)
    } finally {
      client.close()
      await node.stop()
    }
  })

  it("gives each client connection its own share: one greedy client cannot use up the others'", async () => {
    const node = await startNode(HOST, { RATE_LIMIT: "0.001", RATE_LIMIT_BURST: "10" })
    const greedy = connect(node.address, { "grpc.use_local_subchannel_pool": 1 })
    const polite = connect(node.address, { "grpc.use_local_subchannel_pool": 1 })
    try {
      const greedyCalls = await Promise.all(Array.from({ length: 10 }, (_, i) => statusOf(greedy.cache.set({ key: `g${i}`, value: "v" }))))
      expect(greedyCalls.filter((s) => s === "OK")).toHaveLength(5)
      expect(greedyCalls.filter((s) => s.startsWith("RESOURCE_EXHAUSTED"))).toHaveLength(5)
      const politeCalls = await Promise.all(Array.from({ length: 5 }, (_, i) => statusOf(polite.cache.set({ key: `p${i}`, value: "v" }))))
      expect(politeCalls).toEqual(Array.from({ length: 5 }, () => "OK"))
    } finally {
      greedy.close()
      polite.close()
      await node.stop()
    }
  })

  it("on SIGTERM during a burst, settles every call cleanly and exits 0", async () => {
    const node = await startNode(HOST)
    const clients = Array.from({ length: 4 }, () => connect(node.address))
    const outcomes = new Map<string, number>()
    let stopping = false
    let completedBeforeSignal = 0
    const worker = async (client: ReturnType<typeof connect>, id: number) => {
      for (let i = 0; !stopping || i % 50 !== 0; i++) {
        try {
          await client.cache.set({ key: `w${id}-${i % 20}`, value: `v${i}` }, { signal: AbortSignal.timeout(5000) })
          outcomes.set("OK", (outcomes.get("OK") ?? 0) + 1)
          if (!stopping) completedBeforeSignal++
        } catch (error) {
          const code = error instanceof ClientError ? Status[error.code] : String(error)
          outcomes.set(code, (outcomes.get(code) ?? 0) + 1)
          if (stopping) return
        }
      }
    }
    const workers = clients.map((client, id) => worker(client, id))
    // Signal once the burst is well under way.
    while (completedBeforeSignal < 200) await new Promise((resolve) => setImmediate(resolve))
    stopping = true
    const exit = await node.stop("SIGTERM")
    await Promise.all(workers)
    clients.forEach((c) => c.close())

    expect(exit).toEqual({ code: 0, signal: null })
    expect(outcomes.get("OK")).toBeGreaterThanOrEqual(200)
    // Calls after the listener closed are refused at the transport; none may fail inside the server.
    for (const code of outcomes.keys()) expect(["OK", "UNAVAILABLE", "CANCELLED"]).toContain(code)
    const messages = node.logs().map((l) => l["msg"])
    expect(messages).toEqual(expect.arrayContaining(["shutting down: refusing new calls, draining in-flight calls", "node stopped"]))
  })

  it("turns health NOT_SERVING at shutdown and cuts off calls left after DRAIN_TIMEOUT", async () => {
    const node = await startNode(HOST, { DRAIN_TIMEOUT: "1s" })
    const client = connect(node.address)
    const statuses: Array<number> = []
    const watching = (async () => {
      try {
        for await (const update of client.health.watch({ service: "pb.CacheService" })) statuses.push(update.status)
      } catch {
        // The stream is cut off when the drain times out.
      }
    })()
    while (statuses.length === 0) await new Promise((resolve) => setImmediate(resolve))
    const exit = await node.stop("SIGTERM")
    await watching
    client.close()
    expect(statuses).toEqual([1, 2]) // SERVING, then NOT_SERVING
    expect(exit).toEqual({ code: 0, signal: null })
    expect(node.logs().map((l) => l["msg"])).toContain("drain timed out; remaining calls cut off")
  })

  it("exits at once on a second signal", async () => {
    const node = await startNode(HOST, { DRAIN_TIMEOUT: "60s" })
    const client = connect(node.address)
    const watching = (async () => {
      try {
        for await (const _ of client.health.watch({ service: "" })) void _
      } catch {
        // cut off
      }
    })()
    node.child.kill("SIGTERM")
    await node.waitForLog((l) => l["msg"] === "shutting down: refusing new calls, draining in-flight calls")
    node.child.kill("SIGTERM")
    const exit = await node.exited
    await watching
    client.close()
    expect(exit.signal === "SIGTERM" || (exit.code !== null && exit.code !== 0)).toBe(true)
  })
})
