import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Either, Fiber, Option, TestClock } from "effect"
import { MemoryNetwork } from "../../src/peer/PeerMemory.js"
import { Tombstone } from "../../src/store/entry.js"
import type { NodeConfigShape } from "../../src/config/NodeConfig.js"
import { type SimNode, simNode } from "../../testkit/sim.js"

const A = "10.0.0.1:8080"
const B = "10.0.0.2:8080"
const C = "10.0.0.3:8080"

/** Three nodes with a 1 s TOMBSTONE_GRACE and collection passes every second; removal of a dead member after 60 s. */
const threeNodes = threeNodesWith({})
function threeNodesWith(more: Partial<NodeConfigShape>) {
  return Effect.gen(function*() {
  const network = new MemoryNetwork(Duration.seconds(1))
  network.faults.delay = Duration.millis(10)
  const overrides = { tombstoneGrace: Duration.seconds(1), antiEntropyInterval: Duration.seconds(1), ...more }
  const nodes = [
    yield* simNode(network, A, [B, C], overrides),
    yield* simNode(network, B, [A, C], overrides),
    yield* simNode(network, C, [A, B], overrides)
  ]
  const size = (n: SimNode) => n.ring.current()?.config.members.length ?? 0
  for (let i = 0; i < 100 && nodes.some((n) => size(n) < 3); i++) yield* TestClock.adjust("100 millis")
  expect(nodes.map(size)).toEqual([3, 3, 3])
  return { network, nodes }
  })
}

const run = <A, E>(effect: Effect.Effect<A, E>) =>
  Effect.gen(function*() {
    const fiber = yield* Effect.fork(effect)
    yield* TestClock.adjust("100 millis")
    return yield* Fiber.join(fiber)
  })

const advance = (seconds: number) =>
  Effect.gen(function*() {
    for (let i = 0; i < seconds * 10; i++) yield* TestClock.adjust("100 millis")
  })

const holdsTombstone = (node: SimNode, key: string) => node.store.read(key) instanceof Tombstone

describe("TombstoneCollector (three in-memory nodes)", () => {
  it.scoped("collects a tombstone once every replica holds it, and refuses older writes after", () =>
    Effect.gen(function*() {
      const { nodes } = yield* threeNodes
      const [a] = nodes
      const old = yield* run(a!.api.set({ key: "k", value: "v", ttlSeconds: 0, consistency: undefined }))
      yield* run(a!.api.delete("k", undefined))
      expect(nodes.map((n) => holdsTombstone(n, "k"))).toEqual([true, true, true])
      yield* advance(4)
      expect(nodes.map((n) => n.store.stats().tombstones)).toEqual([0, 0, 0])
      expect(nodes.map((n) => n.store.stats().tombstonesCollected)).toEqual([1, 1, 1])
      // A late write of the deleted value is refused everywhere.
      for (const node of nodes) {
        expect(node.store.apply("k", { version: old.version, value: "v", expiresAtMs: 0 })._tag).toBe("Stale")
      }
    }))

  it.scoped("keeps a tombstone past TOMBSTONE_GRACE while a replica that missed it is cut off, then hands it on", () =>
    Effect.gen(function*() {
      const { network, nodes } = yield* threeNodes
      const [a, b, c] = nodes
      yield* run(a!.api.set({ key: "k", value: "v", ttlSeconds: 0, consistency: undefined }))
      network.faults.down.add(C)
      yield* run(a!.api.delete("k", undefined))
      // Twenty times the grace period, far short of the 60 s after which C would be removed.
      yield* advance(20)
      expect([a, b].map((n) => holdsTombstone(n!, "k"))).toEqual([true, true])
      expect(c!.store.read("k")).not.toBeInstanceOf(Tombstone)
      network.faults.down.delete(C)
      yield* advance(5)
      expect(nodes.map((n) => n.store.stats().tombstonesCollected)).toEqual([1, 1, 1])
      expect(nodes.map((n) => n.store.stats().tombstones)).toEqual([0, 0, 0])
    }))

  it.scoped("drops what a node held when it was removed while cut off, so a deletion collected meanwhile stays deleted", () =>
    Effect.gen(function*() {
      const { network, nodes } = yield* threeNodesWith({ deadNodeTimeout: Duration.seconds(2) })
      const [a, b, c] = nodes
      yield* run(a!.api.set({ key: "k", value: "v", ttlSeconds: 0, consistency: undefined }))
      for (const other of [B, C]) {
        network.faults.cut.add(`${A}->${other}`)
        network.faults.cut.add(`${other}->${A}`)
      }
      const ringOf = (n: SimNode) => n.ring.current()?.config.members.map((m) => m.address) ?? []
      for (let i = 0; i < 300 && [b, c].some((n) => ringOf(n!).length !== 2 || n!.ring.current()?.stable !== true); i++) yield* TestClock.adjust("100 millis")
      expect([b, c].map((n) => ringOf(n!))).toEqual([[B, C], [B, C]])
      // Deleted and collected while A is away: no replica keeps the tombstone.
      yield* run(b!.api.delete("k", undefined))
      yield* advance(4)
      expect([b, c].map((n) => n!.store.stats().tombstones)).toEqual([0, 0])
      expect(a!.store.read("k")).toHaveProperty("value", "v")
      network.faults.cut.clear()
      for (let i = 0; i < 300 && nodes.some((n) => ringOf(n).length !== 3 || n.ring.current()?.stable !== true || n.ring.status() !== "member"); i++) {
        yield* TestClock.adjust("100 millis")
      }
      expect(a!.ring.status()).toBe("member")
      expect(a!.store.read("k")).not.toHaveProperty("value")
      for (const node of nodes) {
        const got = yield* run(Effect.either(node.api.get("k", undefined)))
        expect(Either.isRight(got) && Option.isNone(got.right)).toBe(true)
      }
    }))
})
