import { describe, expect, it } from "vitest"
import { nemeses } from "./harness/nemesis.js"
import { canCreateNamespaces } from "./harness/netns.js"
import { runFaults } from "./harness/runner.js"
import { CI_MATRIX, LONG_MATRIX, ONE_UNDER_PARTITION, type Scenario } from "./scenarios.js"

/**
 * The consistency proof under faults: real nodes in network namespaces, a
 * workload recording every operation from the moment the processes start, a
 * nemesis cutting, pausing and killing for longer than every membership
 * timer, and a linearizability checker over the history. Knobs
 * (environment): FAULT_MATRIX=ci|long (default ci), SCENARIO=a,b (names such as
 * split-brain-n5, split-brain for every size, or nemeses; default all), SEEDS=1,2 (default 1).
 */
const matrix = process.env["FAULT_MATRIX"] === "long" ? LONG_MATRIX : CI_MATRIX
const filter = process.env["SCENARIO"]?.split(",")
const chosen = matrix.filter((s) => filter === undefined || filter.some((f) => s.name === f || s.name.startsWith(`${f}-n`) || s.nemesis === f))
const seeds = (process.env["SEEDS"] ?? process.env["SEED"] ?? "1").split(",").map(Number)

const timeoutOf = (scenario: Scenario) => (scenario.durationMs ?? 15_000) + 90_000

/** One line per run, for the note: operations, unknown share, verdict. */
const report = (summary: { name: string; operations: number; ok: number; unknown: number; linearizable: boolean }, reportDir: string) =>
  console.log(JSON.stringify({
    ...summary,
    unknownShare: summary.operations === 0 ? 0 : Number((summary.unknown / summary.operations).toFixed(3)),
    reportDir
  }))

describe("linearizability under faults", () => {
  it("can make network namespaces here (root, iproute2, iptables)", () => {
    expect(canCreateNamespaces()).toBe(true)
  })

  for (const scenario of chosen) {
    if (!(scenario.nemesis in nemeses)) throw new Error(`unknown nemesis ${scenario.nemesis}`)
    for (const seed of seeds) {
      it(`keeps QUORUM linearizable: ${scenario.name} (seed ${seed})`, async () => {
        const { reportDir, summary, verdict } = await runFaults({ ...scenario, name: `${scenario.name}-${seed}`, seed })
        report(summary, reportDir)
        for (const key of verdict.keys) expect(key.explanation ?? "linearizable").toBe("linearizable")
        expect(verdict.ok).toBe(true)
        expect(summary.ok).toBeGreaterThan(100) // the run did real work, not only failures
      }, timeoutOf(scenario))
    }
  }

  it("catches the anomalies of consistency ONE under a partition (the harness can see a real bug)", async () => {
    const { reportDir, summary, verdict } = await runFaults({ ...ONE_UNDER_PARTITION, seed: seeds[0]! })
    report(summary, reportDir)
    expect(verdict.ok).toBe(false)
    const failing = verdict.keys.find((k) => k.ok === false)
    expect(failing?.failingPrefix?.length).toBeGreaterThan(0)
  }, timeoutOf(ONE_UNDER_PARTITION))
})
