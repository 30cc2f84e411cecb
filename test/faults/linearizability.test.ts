import { describe, expect, it } from "vitest"
import { nemeses } from "./harness/nemesis.js"
import { canCreateNamespaces } from "./harness/netns.js"
import { runFaults } from "./harness/runner.js"

/**
 * The consistency proof under faults: real nodes in network namespaces, a
 * workload recording every operation, a nemesis cutting, pausing and killing,
 * and a linearizability checker over the history. Knobs (environment):
 * NEMESIS=a,b (default: all), SEED (default 1), FAULT_DURATION_MS (default 15000).
 */
const chosen = process.env["NEMESIS"]?.split(",") ??
  ["partition-halves", "isolate-one", "bridge", "pause", "clock-skew", "kill-for-good", "kill-restart", "join-leave", "membership-mix"]
const seed = Number(process.env["SEED"] ?? 1)
const durationMs = Number(process.env["FAULT_DURATION_MS"] ?? 15_000)
const timeoutMs = durationMs + 60_000

describe("linearizability under faults", () => {
  it("can make network namespaces here (root, iproute2, iptables)", () => {
    expect(canCreateNamespaces()).toBe(true)
  })

  for (const nemesis of chosen) {
    if (!(nemesis in nemeses)) throw new Error(`unknown nemesis ${nemesis}; choose from ${Object.keys(nemeses).join(", ")}`)
    it(`keeps QUORUM reads and writes linearizable under ${nemesis}`, async () => {
      const { reportDir, summary, verdict } = await runFaults({ nemesis, consistency: "QUORUM", seed, durationMs })
      console.log(JSON.stringify({ ...summary, reportDir }))
      for (const key of verdict.keys) expect(key.explanation ?? "linearizable").toBe("linearizable")
      expect(verdict.ok).toBe(true)
      expect(summary.ok).toBeGreaterThan(100) // the run did real work, not only failures
    }, timeoutMs)
  }

  it("catches the anomalies of consistency ONE under a partition (the harness can see a real bug)", async () => {
    const { reportDir, summary, verdict } = await runFaults({ nemesis: "isolate-one", consistency: "ONE", seed, durationMs })
    console.log(JSON.stringify({ ...summary, reportDir }))
    expect(verdict.ok).toBe(false)
    const failing = verdict.keys.find((k) => k.ok === false)
    expect(failing?.failingPrefix?.length).toBeGreaterThan(0)
  }, timeoutMs)
})
