import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, TestClock } from "effect"
import { MemoryNetwork } from "../../src/peer/PeerMemory.js"
import { type SimNode, simNode } from "../support/sim.js"

const A = "10.0.0.1:8080"
const B = "10.0.0.2:8080"
const C = "10.0.0.3:8080"
const D = "10.0.0.4:8080"

const statusOf = (node: SimNode, member: string) => node.membership.members().find((m) => m.address === member)

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

const cluster = Effect.gen(function*() {
  const network = new MemoryNetwork(Duration.seconds(1))
  network.faults.delay = Duration.millis(2)
  const a = yield* simNode(network, A, [])
  const b = yield* simNode(network, B, [A])
  const c = yield* simNode(network, C, [B]) // any member is a seed
  yield* advanceUntil(() => [a, b, c].every((n) => n.ring.current().size === 3), Duration.seconds(5))
  return { network, a, b, c }
})

describe("Membership (SWIM over an in-memory network)", () => {
  it.scoped("marks a crashed node dead on every other node within 5 s", () =>
    Effect.gen(function*() {
      const { a, b, network } = yield* cluster
      network.faults.down.add(C)
      const took = yield* advanceUntil(
        () => [a, b].every((n) => statusOf(n, C)?.status === "dead"),
        Duration.seconds(5)
      )
      expect(took).toBeLessThanOrEqual(5000)
      expect(a.ring.current().members).toContain(C) // dead is not a ring change
    }))

  it.scoped("lets a suspected node refute the rumor with a higher incarnation", () =>
    Effect.gen(function*() {
      const { a, b, c, network } = yield* cluster
      // Nobody can reach C, but C can still talk to the others and hears it is suspected.
      network.faults.cut.add(`${A}->${C}`)
      network.faults.cut.add(`${B}->${C}`)
      yield* advanceUntil(() => statusOf(c, C)!.incarnation > 0, Duration.seconds(10))
      network.faults.cut.clear()
      yield* advanceUntil(
        () => [a, b].every((n) => statusOf(n, C)?.status === "alive" && statusOf(n, C)!.incarnation > 0),
        Duration.seconds(10)
      )
      expect(statusOf(c, C)?.status).toBe("alive")
    }))

  it.scoped("never suspects healthy nodes on a healthy network", () =>
    Effect.gen(function*() {
      const { a, b, c } = yield* cluster
      yield* TestClock.adjust("30 seconds")
      for (const node of [a, b, c]) {
        for (const member of [A, B, C]) expect(statusOf(node, member)).toMatchObject({ status: "alive", incarnation: 0 })
      }
    }))

  it.scoped("takes a node that leaves off every ring", () =>
    Effect.gen(function*() {
      const { a, b, c } = yield* cluster
      yield* c.stop
      yield* advanceUntil(() => [a, b].every((n) => n.ring.current().size === 2), Duration.seconds(5))
      expect(statusOf(a, C)?.status).toBe("left")
    }))

  it.scoped("lets a later node join through one seed and be seen by all", () =>
    Effect.gen(function*() {
      const { a, b, c, network } = yield* cluster
      const d = yield* simNode(network, D, [C])
      yield* advanceUntil(() => [a, b, c, d].every((n) => n.ring.current().size === 4), Duration.seconds(10))
      expect(d.ring.current().members).toEqual([A, B, C, D])
    }))

  it.scoped("merges two clusters that formed apart because each node joined a different seed", () =>
    Effect.gen(function*() {
      const network = new MemoryNetwork(Duration.seconds(1))
      // A and B cannot reach C and D at first: A+B and C+D form two clusters.
      for (const [x, y] of [[A, C], [A, D], [B, C], [B, D]] as const) {
        network.faults.cut.add(`${x}->${y}`)
        network.faults.cut.add(`${y}->${x}`)
      }
      const nodes = [
        yield* simNode(network, A, [B, C, D]),
        yield* simNode(network, B, [A, C, D]),
        yield* simNode(network, C, [D, A, B]),
        yield* simNode(network, D, [C, A, B])
      ]
      yield* advanceUntil(() => nodes.every((n) => n.ring.current().size === 2), Duration.seconds(10))
      // Let every join attempt finish: the two clusters are now stable apart.
      yield* TestClock.adjust("15 seconds")
      expect(nodes.map((n) => n.ring.current().size)).toEqual([2, 2, 2, 2])
      network.faults.cut.clear()
      const took = yield* advanceUntil(() => nodes.every((n) => n.ring.current().size === 4), Duration.seconds(30))
      expect(took).toBeLessThanOrEqual(30_000)
    }))

  it.scoped("removes a dead member only where a majority of the ring is in sight, so a cut-off node cannot shrink its ring", () =>
    Effect.gen(function*() {
      const network = new MemoryNetwork(Duration.seconds(1))
      const fast = { deadNodeTimeout: Duration.seconds(2) }
      const a = yield* simNode(network, A, [], fast)
      const b = yield* simNode(network, B, [A], fast)
      const c = yield* simNode(network, C, [A], fast)
      yield* advanceUntil(() => [a, b, c].every((n) => n.ring.current().size === 3), Duration.seconds(5))
      for (const other of [B, C]) {
        network.faults.cut.add(`${A}->${other}`)
        network.faults.cut.add(`${other}->${A}`)
      }
      yield* advanceUntil(() => [b, c].every((n) => n.ring.current().size === 2), Duration.seconds(20))
      // A sees B and C dead too, but one of three is no majority: its ring keeps them.
      expect(statusOf(a, B)?.status).toBe("dead")
      yield* TestClock.adjust("10 seconds")
      expect(a.ring.current().size).toBe(3)
    }))
})
