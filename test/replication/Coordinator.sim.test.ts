import { describe, expect, it } from "@effect/vitest"
import { Clock, Duration, Effect, Either, Fiber, Option, TestClock } from "effect"
import * as V from "../../src/clock/version.js"
import { MemoryNetwork } from "../../src/peer/PeerMemory.js"
import { Entry } from "../../src/store/entry.js"
import type { NodeConfigShape } from "../../src/config/NodeConfig.js"
import { type SimNode, simNode } from "../../testkit/sim.js"
import type { ApiError } from "../../src/api/CacheApi.js"
import type { FoundValue, WriteOutcome } from "../../src/replication/Coordinator.js"

const A = "10.0.0.1:8080"
const B = "10.0.0.2:8080"
const C = "10.0.0.3:8080"

/** Three nodes that have joined each other, on a network with 10 ms links and 1 s timeouts. */
const threeNodesWith = (overrides: Partial<NodeConfigShape>) => Effect.gen(function*() {
  const network = new MemoryNetwork(Duration.seconds(1))
  network.faults.delay = Duration.millis(10)
  const a = yield* simNode(network, A, [B, C], overrides)
  const b = yield* simNode(network, B, [A, C], overrides)
  const c = yield* simNode(network, C, [A, B], overrides)
  const size = (n: SimNode) => n.ring.current()?.config.members.length ?? 0
  for (let i = 0; i < 100 && [a, b, c].some((n) => size(n) < 3); i++) yield* TestClock.adjust("100 millis")
  expect([a, b, c].map(size)).toEqual([3, 3, 3])
  return { network, a, b, c }
})
const threeNodes = threeNodesWith({})

/** How many local reads each node's store has answered. */
const readsAt = (nodes: ReadonlyArray<SimNode>) => nodes.map((node) => node.store.stats().hits + node.store.stats().misses)

const valueAt = (node: SimNode, key: string) => {
  const found = node.store.read(key)
  return found instanceof Entry ? { value: found.value, version: V.copy(found) } : undefined
}

const set = (node: SimNode, key: string, value: string, consistency?: "ONE" | "QUORUM" | "ALL") =>
  node.api.set({ key, value, ttlSeconds: 0, consistency })

describe("Coordinator (three in-memory nodes)", () => {
  it.scoped("replicates a write to every replica; any node reads it back", () =>
    Effect.gen(function*() {
      const { a, b, c } = yield* threeNodes
      const fiber = yield* Effect.fork(set(a, "foo", "bar"))
      yield* TestClock.adjust("50 millis")
      const written = yield* Fiber.join(fiber)
      for (const node of [a, b, c]) expect(valueAt(node, "foo")).toEqual({ value: "bar", version: written.version })
      for (const node of [b, c]) {
        const read = yield* Effect.fork(node.api.get("foo", undefined))
        yield* TestClock.adjust("50 millis")
        expect(Option.map(yield* Fiber.join(read), (f) => f.value)).toEqual(Option.some("bar"))
      }
    }))

  it.scoped("answers at quorum without waiting for a silent replica's timeout", () =>
    Effect.gen(function*() {
      const { a, network } = yield* threeNodes
      network.faults.down.add(C)
      const fiber = yield* Effect.fork(set(a, "k", "v"))
      yield* TestClock.adjust("30 millis") // two round trips of 10 ms, far below the 1 s timeout
      const done = yield* Fiber.poll(fiber)
      expect(Option.isSome(done)).toBe(true)
      // A read asks one remote replica first; if that is the silent one, the
      // other is asked after SPECULATIVE_READ_DELAY (50 ms), not after the 1 s timeout.
      const read = yield* Effect.fork(a.api.get("k", "QUORUM"))
      yield* TestClock.adjust("80 millis")
      expect(Option.map(yield* Fiber.join(read), (f) => f.value)).toEqual(Option.some("v"))
    }))

  it.scoped("with READ_FANOUT=quorum, reads from a quorum first, and asks the other replica only when one of those cannot answer", () =>
    Effect.gen(function*() {
      const { a, b, c, network } = yield* threeNodesWith({ readFanout: "quorum" })
      const seeded = yield* Effect.fork(set(a, "k", "v"))
      yield* TestClock.adjust("50 millis")
      yield* Fiber.join(seeded)
      const asked = () => readsAt([b, c])
      const before = asked()
      const read = yield* Effect.fork(a.api.get("k", "QUORUM"))
      yield* TestClock.adjust("30 millis")
      expect(Option.isSome(yield* Fiber.join(read))).toBe(true)
      const after = asked()
      // This node and exactly one remote replica answered.
      expect(after[0]! - before[0]! + after[1]! - before[1]!).toBe(1)
      // With that one silent, the other is asked after SPECULATIVE_READ_DELAY (50 ms), long before its timeout.
      network.faults.down.add(after[0]! > before[0]! ? B : C)
      const again = yield* Effect.fork(a.api.get("k", "QUORUM"))
      yield* TestClock.adjust("80 millis")
      expect(Option.map(yield* Fiber.join(again), (f) => f.value)).toEqual(Option.some("v"))
    }))

  it.scoped("fails with UNAVAILABLE counts when a quorum is out of reach, while ONE still reads", () =>
    Effect.gen(function*() {
      const { a, network } = yield* threeNodes
      const seeded = yield* Effect.fork(set(a, "k", "v"))
      yield* TestClock.adjust("50 millis")
      yield* Fiber.join(seeded)
      network.faults.down.add(B)
      network.faults.down.add(C)
      const write = yield* Effect.fork(Effect.either(set(a, "k", "w")))
      yield* TestClock.adjust("2 seconds")
      const failed = yield* Fiber.join(write)
      expect(Either.isLeft(failed) && failed.left._tag).toBe("QuorumUnavailable")
      expect(Either.isLeft(failed) && failed.left.message).toBe("quorum not reached: 1 of 3 replicas answered, 2 needed")
      const failures = yield* Effect.promise(() => a.metrics.registry.getSingleMetricAsString("cache_quorum_failures_total"))
      expect(failures).toContain('cache_quorum_failures_total{op="write"} 1')
      const read = yield* Effect.fork(a.api.get("k", "ONE"))
      yield* TestClock.adjust("10 millis")
      expect(Option.isSome(yield* Fiber.join(read))).toBe(true)
      const quorumRead = yield* Effect.fork(Effect.either(a.api.get("k", "QUORUM")))
      yield* TestClock.adjust("2 seconds")
      expect(Either.isLeft(yield* Fiber.join(quorumRead))).toBe(true)
      const counted = yield* Effect.promise(() => a.metrics.registry.getSingleMetricAsString("cache_quorum_failures_total"))
      expect(counted).toContain('cache_quorum_failures_total{op="read"} 1')
    }))

  it.scoped("retries a write above a newer version a replica holds", () =>
    Effect.gen(function*() {
      const { a, b, c } = yield* threeNodes
      // Ahead of this clock, but within MAX_CLOCK_OFFSET (500 ms): a newer write from a faster clock.
      const future = { hlc: 400 * 1024, nodeId: 7, generation: 7 }
      for (const node of [b, c]) node.store.apply("k", { version: future, value: "from the future", expiresAtMs: 0 })
      const fiber = yield* Effect.fork(set(a, "k", "now"))
      yield* TestClock.adjust("200 millis")
      const written = yield* Fiber.join(fiber)
      expect(V.compare(written.version, future)).toBeGreaterThan(0)
      for (const node of [b, c]) expect(valueAt(node, "k")?.value).toBe("now")
    }))

  it.scoped("neither wins with nor moves its clock to an answer from beyond MAX_CLOCK_OFFSET", () =>
    Effect.gen(function*() {
      const { a, b, c } = yield* threeNodes
      // Stored before the bound existed, or by a replica whose clock is far ahead.
      const future = { hlc: 9e15, nodeId: 7, generation: 7 }
      for (const node of [b, c]) node.store.apply("k", { version: future, value: "from the future", expiresAtMs: 0 })
      const write = yield* Effect.fork(Effect.either(set(a, "k", "now")))
      const read = yield* Effect.fork(Effect.either(a.api.get("k", "QUORUM")))
      yield* TestClock.adjust("2 seconds")
      const written = yield* Fiber.join(write)
      expect(Either.isLeft(written) && written.left._tag).toBe("QuorumUnavailable")
      const got = yield* Fiber.join(read)
      expect(Either.isLeft(got) && got.left._tag).toBe("QuorumUnavailable")
      // Another key still writes at the real time.
      const other = yield* Effect.fork(set(a, "other", "v"))
      yield* TestClock.adjust("50 millis")
      expect((yield* Fiber.join(other)).version.hlc).toBeLessThan(10_000 * 1024)
    }))

  it.scoped("answers a ONE read from this node's own copy without asking another replica", () =>
    Effect.gen(function*() {
      const { a, b, c } = yield* threeNodes
      const seeded = yield* Effect.fork(set(a, "k", "v"))
      yield* TestClock.adjust("50 millis")
      yield* Fiber.join(seeded)
      const before = readsAt([a, b, c])
      const read = yield* Effect.fork(a.api.get("k", "ONE"))
      yield* TestClock.adjust("1 millis")
      expect(Option.map(yield* Fiber.join(read), (f) => f.value)).toEqual(Option.some("v"))
      expect(readsAt([a, b, c]).map((n, i) => n - before[i]!)).toEqual([1, 0, 0])
      // A QUORUM read asks every replica at once (READ_FANOUT=all), and answers with the first two.
      const quorum = yield* Effect.fork(a.api.get("k", "QUORUM"))
      yield* TestClock.adjust("30 millis")
      expect(Option.isSome(yield* Fiber.join(quorum))).toBe(true)
      expect(readsAt([a, b, c]).map((n, i) => n - before[i]!)).toEqual([2, 1, 1])
    }))

  it.scoped("writes the newest answer back to a quorum before returning it", () =>
    Effect.gen(function*() {
      const { a, b, c, network } = yield* threeNodes
      const old = { hlc: 1000, nodeId: 1, generation: 1 }
      const newer = { hlc: 2000, nodeId: 1, generation: 1 }
      for (const node of [a, b, c]) node.store.apply("k", { version: old, value: "old", expiresAtMs: 0 })
      b.store.apply("k", { version: newer, value: "new", expiresAtMs: 0 }) // a write that reached only B
      network.faults.down.add(C)
      const read = yield* Effect.fork(a.api.get("k", "QUORUM"))
      yield* TestClock.adjust("100 millis")
      expect(Option.map(yield* Fiber.join(read), (f) => f.value)).toEqual(Option.some("new"))
      expect(valueAt(a, "k")).toEqual({ value: "new", version: newer }) // written back before the answer
    }))

  it.scoped("answers the callback read (getNow, untraced gRPC Gets) as the Effect read: a value, nothing, a written-back newer value, UNAVAILABLE", () =>
    Effect.gen(function*() {
      const { a, b, c, network } = yield* threeNodes
      const getNow = (node: SimNode, key: string) =>
        Effect.async<Option.Option<FoundValue>, ApiError>((resume) => node.api.getNow(key, "QUORUM", undefined, resume))
      const seeded = yield* Effect.fork(set(a, "k", "v"))
      yield* TestClock.adjust("50 millis")
      yield* Fiber.join(seeded)
      const found = yield* Effect.fork(getNow(b, "k"))
      const missing = yield* Effect.fork(getNow(b, "nothing"))
      yield* TestClock.adjust("50 millis")
      expect(Option.map(yield* Fiber.join(found), (f) => f.value)).toEqual(Option.some("v"))
      expect(Option.isNone(yield* Fiber.join(missing))).toBe(true)

      const old = { hlc: 1000, nodeId: 1, generation: 1 }
      const newer = { hlc: 2000, nodeId: 1, generation: 1 }
      for (const node of [a, b, c]) node.store.apply("w", { version: old, value: "old", expiresAtMs: 0 })
      b.store.apply("w", { version: newer, value: "new", expiresAtMs: 0 }) // a write that reached only B
      network.faults.down.add(C)
      const read = yield* Effect.fork(getNow(a, "w"))
      yield* TestClock.adjust("100 millis")
      expect(Option.map(yield* Fiber.join(read), (f) => f.value)).toEqual(Option.some("new"))
      expect(valueAt(a, "w")).toEqual({ value: "new", version: newer }) // written back before the answer

      network.faults.down.add(B)
      const unavailable = yield* Effect.fork(Effect.either(getNow(a, "k")))
      yield* TestClock.adjust("2 seconds")
      const failed = yield* Fiber.join(unavailable)
      expect(Either.isLeft(failed) && failed.left._tag).toBe("QuorumUnavailable")
    }))

  it.scoped("writes through the callback write (setNow, deleteNow: untraced gRPC Sets and Deletes) as through the Effect one: to every replica, and above a newer version a replica holds", () =>
    Effect.gen(function*() {
      const { a, b, c } = yield* threeNodes
      const setNow = (node: SimNode, key: string, value: string) =>
        Effect.async<WriteOutcome, ApiError>((resume) => node.api.setNow({ key, value, ttlSeconds: 0, consistency: "QUORUM" }, resume))
      const written = yield* Effect.fork(setNow(a, "k", "v"))
      yield* TestClock.adjust("50 millis")
      const outcome = yield* Fiber.join(written)
      for (const node of [a, b, c]) expect(valueAt(node, "k")).toEqual({ value: "v", version: outcome.version })

      // Ahead of this clock, but within MAX_CLOCK_OFFSET (500 ms): the first round is stale, the retry writes above it.
      const future = { hlc: ((yield* Clock.currentTimeMillis) + 400) * 1024, nodeId: 7, generation: 7 }
      for (const node of [b, c]) node.store.apply("f", { version: future, value: "from the future", expiresAtMs: 0 })
      const retried = yield* Effect.fork(setNow(a, "f", "now"))
      yield* TestClock.adjust("200 millis")
      expect(V.compare((yield* Fiber.join(retried)).version, future)).toBeGreaterThan(0)
      for (const node of [b, c]) expect(valueAt(node, "f")?.value).toBe("now")

      const deleted = yield* Effect.fork(Effect.async<WriteOutcome, ApiError>((resume) => b.api.deleteNow("k", "QUORUM", undefined, resume)))
      yield* TestClock.adjust("50 millis")
      expect((yield* Fiber.join(deleted)).existed).toBe(true)
      for (const node of [a, b, c]) expect(valueAt(node, "k")).toBeUndefined()
    }))

  it.scoped("keeps replicas identical under many concurrent writers to one key", () =>
    Effect.gen(function*() {
      const { a, b, c } = yield* threeNodes
      const writers = [a, b, c].flatMap((node, n) =>
        Array.from({ length: 10 }, (_, i) => Effect.fork(Effect.either(set(node, "hot", `${n}-${i}`))))
      )
      const fibers = yield* Effect.all(writers)
      yield* TestClock.adjust("5 seconds")
      const outcomes = yield* Effect.forEach(fibers, Fiber.join)
      const written = outcomes.filter(Either.isRight).map((o) => o.right.version)
      expect(written.length).toBeGreaterThan(0)
      for (const o of outcomes) if (Either.isLeft(o)) expect(o.left._tag).toBe("WriteContention")
      // A read settles on the newest version and repairs every replica that is behind.
      const read = yield* Effect.fork(a.api.get("hot", "QUORUM"))
      yield* TestClock.adjust("1 second")
      const seen = Option.getOrThrow(yield* Fiber.join(read))
      const newestAcked = written.reduce((x, y) => (V.compare(x, y) >= 0 ? x : y))
      expect(V.compare(seen.version, newestAcked)).toBeGreaterThanOrEqual(0)
      const states = [a, b, c].map((node) => valueAt(node, "hot"))
      expect(states[0]?.version).toEqual(seen.version)
      expect(states[1]).toEqual(states[0])
      expect(states[2]).toEqual(states[0])
    }))
})
