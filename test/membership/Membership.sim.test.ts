import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect } from "effect"
import { MemoryNetwork } from "../../src/peer/PeerMemory.js"
import type { ProbeMessage } from "../../src/protocol/membership.js"
import { simNode } from "../../testkit/sim.js"
import { advanceUntil, drive, stableWith } from "../../testkit/simOps.js"

const A = "10.0.0.1:8080"
const B = "10.0.0.2:8080"
const C = "10.0.0.3:8080"

describe("Membership (three in-memory nodes)", () => {
  it.scoped("rechecks a member it holds dead with pings that carry no gossip, while its other pings carry the news", () =>
    Effect.gen(function*() {
      const network = new MemoryNetwork({ faults: { delay: Duration.millis(5) } })
      // C stays on the ring while dead (removal only after 10 minutes), so A keeps rechecking it. No indirect
      // probes: a ping A sends C for B would carry gossip as it should, and is not a recheck.
      const overrides = { deadNodeTimeout: Duration.minutes(10), indirectProbes: 0 }
      const [a] = [yield* simNode(network, A, [B, C], overrides), yield* simNode(network, B, [A, C], overrides), yield* simNode(network, C, [A, B], overrides)]
      const all = [A, B, C]
      yield* advanceUntil(() => stableWith(a!, all), Duration.seconds(30), "forming")

      // Pings that B and C receive are recorded; C goes mute: messages reach it, nothing it sends arrives.
      const pings: Array<{ readonly to: string; readonly message: ProbeMessage }> = []
      for (const to of [B, C]) {
        const endpoint = network.endpoints.get(to)!
        network.register(to, { ...endpoint, ping: (message) => Effect.zipRight(Effect.sync(() => pings.push({ to, message })), endpoint.ping(message)) })
      }
      network.faults.cut.add(`${C}->${A}`).add(`${C}->${B}`)

      const statusOfC = () => a!.membership.members().find((m) => m.address === C)?.status
      yield* advanceUntil(() => statusOfC() === "dead", Duration.seconds(30), "A holding C dead")
      // Pings on their way (5 ms) when A gave up on C land first.
      yield* drive(Effect.sleep("100 millis"))
      pings.length = 0
      yield* advanceUntil(() => pings.filter((p) => p.to === C && p.message.from === A).length >= 5, Duration.seconds(30), "A rechecking C")

      const fromA = (to: string) => pings.filter((p) => p.to === to && p.message.from === A).map((p) => p.message.gossip)
      expect(fromA(C).every((gossip) => gossip.length === 0)).toBe(true)
      // Meanwhile the news of C's death went out on A's pings to B.
      expect(fromA(B).some((gossip) => gossip.some((u) => u.address === C && u.status === "dead"))).toBe(true)
    }))
})
