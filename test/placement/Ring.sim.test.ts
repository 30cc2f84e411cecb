import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Fiber, TestClock } from "effect"
import { MemoryNetwork } from "../../src/peer/PeerMemory.js"
import { Entry } from "../../src/store/entry.js"
import { type SimNode, simNode } from "../../testkit/sim.js"

const A = "10.0.0.1:8080"
const B = "10.0.0.2:8080"
const C = "10.0.0.3:8080"
const D = "10.0.0.4:8080"

const statusOf = (node: SimNode, member: string) => node.membership.members().find((m) => m.address === member)
/** The members of the agreed ring a node routes with, when it is stable. */
const stableRing = (node: SimNode) => {
  const view = node.ring.current()
  return view?.stable === true ? view.config.members.map((m) => m.address) : undefined
}
const hasStableRing = (node: SimNode, members: ReadonlyArray<string>) => stableRing(node)?.join() === [...members].sort().join()

/** Advances the test clock in 100 ms steps until `done` holds; returns the time it took. */
const advanceUntil = (done: () => boolean, limit: Duration.Duration) =>
  Effect.gen(function*() {
    let elapsed = 0
    while (!done()) {
      if (elapsed >= Duration.toMillis(limit)) return yield* Effect.die(new Error(`not done after ${elapsed} ms`))
      yield* TestClock.adjust("100 millis")
      elapsed += 100
    }
    return elapsed
  })

const fast = { deadNodeTimeout: Duration.seconds(2) }

/** Cuts every link between `node` and `others`, both ways. */
const isolate = (network: MemoryNetwork, node: string, others: ReadonlyArray<string>) => {
  for (const other of others) {
    network.faults.cut.add(`${node}->${other}`)
    network.faults.cut.add(`${other}->${node}`)
  }
}

/** Three nodes that name each other, as the README starts them. */
const cluster = Effect.gen(function*() {
  const network = new MemoryNetwork(Duration.seconds(1))
  network.faults.delay = Duration.millis(2)
  const a = yield* simNode(network, A, [B, C], fast)
  const b = yield* simNode(network, B, [A, C], fast)
  const c = yield* simNode(network, C, [A, B], fast)
  yield* advanceUntil(() => [a, b, c].every((n) => hasStableRing(n, [A, B, C])), Duration.seconds(5))
  return { network, a, b, c }
})

describe("Ring agreement over SWIM (real services, in-memory network)", () => {
  it.scoped("forms epoch 1 of every seed, and nobody serves before every seed has answered", () =>
    Effect.gen(function*() {
      const network = new MemoryNetwork(Duration.seconds(1))
      network.faults.down.add(C)
      const a = yield* simNode(network, A, [B, C], fast)
      const b = yield* simNode(network, B, [A, C], fast)
      const c = yield* simNode(network, C, [A, B], fast)
      yield* TestClock.adjust("10 seconds")
      // C does not answer: A and B must not form a cluster of their own (they could be a minority).
      expect([a, b].map((n) => [n.ring.epoch(), n.ring.status()])).toEqual([[0, "forming"], [0, "forming"]])
      expect(Effect.runSync(Effect.either(a.api.get("k", "QUORUM")))._tag).toBe("Left")
      network.faults.down.delete(C)
      yield* advanceUntil(() => [a, b, c].every((n) => hasStableRing(n, [A, B, C])), Duration.seconds(5))
      expect([a, b, c].map((n) => n.ring.epoch())).toEqual([1, 1, 1])
    }))

  it.scoped("marks a crashed node dead on every other node, and removes it only after DEAD_NODE_TIMEOUT", () =>
    Effect.gen(function*() {
      const { a, b, network } = yield* cluster
      network.faults.down.add(C)
      const took = yield* advanceUntil(() => [a, b].every((n) => statusOf(n, C)?.status === "dead"), Duration.seconds(5))
      expect(took).toBeLessThanOrEqual(5000)
      expect(stableRing(a)).toEqual([A, B, C]) // dead is not yet removed
      yield* advanceUntil(() => [a, b].every((n) => hasStableRing(n, [A, B])), Duration.seconds(10))
    }))

  it.scoped("never suspects healthy nodes on a healthy network", () =>
    Effect.gen(function*() {
      const { a, b, c } = yield* cluster
      yield* TestClock.adjust("30 seconds")
      for (const node of [a, b, c]) for (const member of [A, B, C]) expect(statusOf(node, member)).toMatchObject({ status: "alive" })
      expect([a, b, c].map((n) => n.ring.epoch())).toEqual([1, 1, 1])
    }))

  it.scoped("takes a node that leaves off the ring by agreement", () =>
    Effect.gen(function*() {
      const { a, b, c } = yield* cluster
      yield* c.stop
      yield* advanceUntil(() => [a, b].every((n) => hasStableRing(n, [A, B])), Duration.seconds(5))
    }))

  it.scoped("lets a later node join through one seed, pulling before reads use it", () =>
    Effect.gen(function*() {
      const { a, b, c, network } = yield* cluster
      const d = yield* simNode(network, D, [C], fast)
      yield* advanceUntil(() => [a, b, c, d].every((n) => hasStableRing(n, [A, B, C, D])), Duration.seconds(10))
      // writeBoth, readNew, stable: three epochs after the first.
      expect(d.ring.epoch()).toBe(4)
      expect(d.ring.history().map((v) => v.phase)).toEqual(["stable", "writeBoth", "readNew", "stable"].slice(-d.ring.history().length))
    }))

  it.scoped("keeps a cut-off node's ring while the majority side removes it, and the cut-off node never shrinks its own", () =>
    Effect.gen(function*() {
      const { a, b, c, network } = yield* cluster
      isolate(network, A, [B, C])
      yield* advanceUntil(() => [b, c].every((n) => hasStableRing(n, [B, C])), Duration.seconds(20))
      expect(statusOf(a, B)?.status).toBe("dead")
      yield* TestClock.adjust("10 seconds")
      // One of three is no majority: A can decide nothing, and keeps routing with the ring it had.
      expect(stableRing(a)).toEqual([A, B, C])
      expect(a.ring.epoch()).toBe(1)
      // Healed, A learns it was removed and joins again as a new member.
      network.faults.cut.clear()
      yield* advanceUntil(() => [a, b, c].every((n) => n.ring.current()?.config.members.length === 3 && n.ring.current()?.stable === true), Duration.seconds(20))
      expect(a.ring.status()).toBe("member")
    }), { retry: 1 }) // Known flake under a fully loaded CI machine (issue 16 note): one retry, a real regression fails both.

  it.scoped("removes no healthy member when a node cut off past its removal comes back with stale failure verdicts", () =>
    Effect.gen(function*() {
      // Slow probes: the healthy nodes take a while to be heard from again, so the verdicts A formed while cut off linger.
      const network = new MemoryNetwork(Duration.seconds(1))
      network.faults.delay = Duration.millis(2)
      const slow = { ...fast, probeInterval: Duration.seconds(1) }
      const [a, b, c] = [yield* simNode(network, A, [B, C], slow), yield* simNode(network, B, [A, C], slow), yield* simNode(network, C, [A, B], slow)]
      yield* advanceUntil(() => [a!, b!, c!].every((n) => hasStableRing(n, [A, B, C])), Duration.seconds(10))
      isolate(network, A, [B, C])
      yield* advanceUntil(() => [b!, c!].every((n) => hasStableRing(n, [B, C])) && statusOf(a!, C)?.status === "dead", Duration.seconds(60))
      const healedAt = b!.ring.epoch()
      network.faults.cut.clear()
      yield* advanceUntil(() => [a!, b!, c!].every((n) => hasStableRing(n, [A, B, C]) && n.ring.status() === "member"), Duration.seconds(30))
      yield* TestClock.adjust("20 seconds")
      // Every configuration agreed since the heal still names B and C: A's verdicts from the cut are no evidence.
      const since = b!.ring.history().filter((v) => v.config.epoch > healedAt).map((v) => v.config.members.map((m) => m.address))
      expect(since.filter((members) => !members.includes(B) || !members.includes(C))).toEqual([])
      expect([a!, b!, c!].map((n) => n.ring.status())).toEqual(["member", "member", "member"])
    }))
})

const E = "10.0.0.5:8080"

describe("fencing and removal rules (real services, in-memory network)", () => {
  it.scoped("fences a coordinator that was cut off past its removal: it cannot complete a write on its old ring (S2)", () =>
    Effect.gen(function*() {
      const { a, b, c, network } = yield* cluster
      isolate(network, A, [B, C])
      // B and C remove A and move on; A still routes with epoch 1.
      yield* advanceUntil(() => [b, c].every((n) => hasStableRing(n, [B, C])), Duration.seconds(20))
      expect(a.ring.epoch()).toBe(1)
      network.faults.cut.clear()
      // The very first call on A goes out with epoch 1: B and C refuse it and A learns it was removed.
      const write = yield* Effect.fork(Effect.either(a.api.set({ key: "k", value: "stale", ttlSeconds: 0, consistency: "QUORUM" })))
      yield* TestClock.adjust("200 millis")
      const outcome = yield* Fiber.join(write)
      // Refused, and not as "not serving": the call reached replicas, so its outcome is unknown to A
      // (the long fault matrix found a write that had landed reported as never attempted).
      expect(outcome._tag === "Left" && outcome.left._tag).toBe("RingMoved")
      expect(b.store.read("k")).not.toBeInstanceOf(Entry)
      expect(c.store.read("k")).not.toBeInstanceOf(Entry)
    }))

  it.scoped("keeps members whose removal would leave ranges without a reachable majority (S4), until removed by force", () =>
    Effect.gen(function*() {
      const network = new MemoryNetwork(Duration.seconds(1))
      network.faults.delay = Duration.millis(2)
      const all = [A, B, C, D, E]
      const nodes = yield* Effect.forEach(all, (address) => simNode(network, address, all.filter((x) => x !== address), fast))
      yield* advanceUntil(() => nodes.every((n) => hasStableRing(n, all)), Duration.seconds(5))
      // Two of five die: some ranges keep one replica of three.
      network.faults.down.add(D)
      network.faults.down.add(E)
      yield* TestClock.adjust("20 seconds")
      const [a] = nodes
      expect(stableRing(a!)).toEqual(all)
      expect(a!.ring.plan()._tag === "Blocked" || nodes.some((n) => n.ring.plan()._tag === "Blocked")).toBe(true)
      // The operator removes both by force: the ring moves on without them.
      yield* a!.ring.requestRemoval(D, true)
      yield* a!.ring.requestRemoval(E, true)
      yield* advanceUntil(() => nodes.slice(0, 3).every((n) => hasStableRing(n, [A, B, C])), Duration.seconds(20))
      expect(a!.ring.history().some((v) => v.config.forced.length === 2)).toBe(true)
    }))
})
