import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Fiber, TestClock } from "effect"
import { PeerClient, type PeerEndpoint } from "../../src/peer/PeerClient.js"
import { MemoryNetwork } from "../../src/peer/PeerMemory.js"
import type { ReplicaReply, ReplicaRequest } from "../../src/protocol/replica.js"
import * as V from "../../src/clock/version.js"
import { watchedByTestClock } from "../../testkit/sim.js"

/** An endpoint that records the replica requests it gets and answers each as applied. */
const recorder = () => {
  const got: Array<string> = []
  const endpoint = {
    replicate: (request: ReplicaRequest): ReplicaReply => {
      got.push(request.key)
      return { _tag: "Applied", existed: false } as unknown as ReplicaReply
    },
    epoch: () => 1,
    catchUp: () => Effect.void,
    ping: () => Effect.succeed({ generation: 1, epoch: 1, gossip: [] })
  } as unknown as PeerEndpoint
  return { got, endpoint }
}

const request = (key: string): ReplicaRequest => ({ key, write: { version: V.ZERO, value: "v", expiresAtMs: 0 }, epoch: 1 })

/** Sends the keys from "a" to "b" on `network` and lets 2 s of test time pass; returns what b got and what a heard back. */
const exchange = (network: MemoryNetwork, keys: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const b = recorder()
    network.register("b", b.endpoint)
    network.register("a", recorder().endpoint) // answers travel back to a registered node
    // Supervised, so the test clock waits for every message's fiber before it moves on.
    const client = yield* Effect.provide(PeerClient, network.layer("a")).pipe(Effect.supervised(yield* watchedByTestClock))
    const answers: Array<string> = []
    for (const key of keys) client.replicate("b", request(key), (reply) => answers.push(reply._tag))
    yield* TestClock.adjust("2 seconds")
    return { got: b.got, answers }
  })

describe("MemoryNetwork faults", () => {
  it.effect("delivers every request on plain links in the order sent, and answers each", () =>
    Effect.gen(function*() {
      const keys = Array.from({ length: 20 }, (_, i) => `k${i}`)
      const { got, answers } = yield* exchange(new MemoryNetwork({ faults: { delay: Duration.millis(5) } }), keys)
      expect(got).toEqual(keys)
      expect(answers).toEqual(keys.map(() => "Applied"))
    }))

  it.effect("reorders with jitter, duplicates requests, loses messages; the same seed does the same", () =>
    Effect.gen(function*() {
      const keys = Array.from({ length: 200 }, (_, i) => `k${i}`)
      const faults = { delay: Duration.millis(5), jitter: Duration.millis(50), loss: 0.1, duplication: 0.2 }
      const first = yield* exchange(new MemoryNetwork({ seed: 3, faults }), keys)
      const again = yield* exchange(new MemoryNetwork({ seed: 3, faults }), keys)
      expect(again).toEqual(first)
      const { got, answers } = first
      expect(got.some((key, i) => i > 0 && Number(key.slice(1)) < Number(got[i - 1]!.slice(1)))).toBe(true) // overtaken
      expect(got.length).toBeGreaterThan(new Set(got).size) // some twice
      expect(new Set(got).size).toBeLessThan(keys.length) // some lost on the way there
      expect(answers.filter((a) => a === "PeerTimeout").length).toBeGreaterThan(keys.length - new Set(got).size) // and some on the way back
      expect(answers.length).toBe(keys.length) // every caller hears: an answer or its timeout
    }))

  it.effect("a clogged link delivers past the caller's timeout: the request lands, the caller times out", () =>
    Effect.gen(function*() {
      const network = new MemoryNetwork({ timeout: Duration.seconds(1) })
      network.faults.clogged.set("a->b", Duration.millis(1500))
      const { got, answers } = yield* exchange(network, ["late"])
      expect(got).toEqual(["late"])
      expect(answers).toEqual(["PeerTimeout"])
    }))

  it.effect("a cut link times out without delivering", () =>
    Effect.gen(function*() {
      const network = new MemoryNetwork()
      network.faults.cut.add("a->b")
      const fiber = yield* Effect.fork(exchange(network, ["x"]))
      const { got, answers } = yield* Fiber.join(fiber)
      expect(got).toEqual([])
      expect(answers).toEqual(["PeerTimeout"])
    }))
})
