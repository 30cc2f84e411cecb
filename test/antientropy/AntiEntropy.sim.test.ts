import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect } from "effect"
import { MemoryNetwork } from "../../src/peer/PeerMemory.js"
import { simNode } from "../../testkit/sim.js"
import { advanceUntil, holders, stableWith, writeKeys } from "../../testkit/simOps.js"

const A = "10.0.0.1:8080"
const B = "10.0.0.2:8080"
const C = "10.0.0.3:8080"
const links = (from: string, to: ReadonlyArray<string>) => to.flatMap((other) => [`${from}->${other}`, `${other}->${from}`])

describe("anti-entropy on a lossy, reordering network (in-memory nodes, one seed)", () => {
  it.scoped("repairs a replica that missed writes while cut off, with no read to trigger a repair", () =>
    Effect.gen(function*() {
      // 5-25 ms links that reorder, 5% of requests delivered twice, 2% of messages lost.
      const network = new MemoryNetwork({
        seed: 23,
        timeout: Duration.seconds(1),
        faults: { delay: Duration.millis(5), jitter: Duration.millis(20), duplication: 0.05, loss: 0.02 }
      })
      // Rounds every second; C stays on the ring while cut off (removal only after 10 minutes).
      const overrides = { antiEntropyInterval: Duration.seconds(1), deadNodeTimeout: Duration.minutes(10) }
      const nodes = [
        yield* simNode(network, A, [B, C], overrides),
        yield* simNode(network, B, [A, C], overrides),
        yield* simNode(network, C, [A, B], overrides)
      ]
      yield* advanceUntil(() => nodes.every((n) => stableWith(n, [A, B, C])), Duration.seconds(30), "forming")

      // Writes through A and B reach a quorum without C.
      for (const link of links(C, [A, B])) network.faults.cut.add(link)
      const acknowledged = yield* writeKeys(nodes.slice(0, 2), 40, "missed")
      expect(acknowledged.size).toBeGreaterThan(30)
      const c = nodes[2]!
      const missed = [...acknowledged].filter(([key, value]) => holders([c], key, value) === 0)
      expect(missed.length).toBe(acknowledged.size)

      network.faults.cut.clear()
      yield* advanceUntil(() => missed.every(([key, value]) => holders([c], key, value) === 1), Duration.seconds(10), "anti-entropy repairing C")
      expect([...acknowledged].filter(([key, value]) => holders(nodes, key, value) < 3)).toEqual([])
    }), { timeout: 90_000, retry: 1 }) // Alone 3-7 s. It hangs now and then (past 90 s in both tries in 2 CI runs of 2026-12-02, also with only sims running): an open bug, likely a fiber TestClock never sees suspended. One retry; a real regression fails both.
})
