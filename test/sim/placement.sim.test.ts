import { describe, expect, it } from "vitest"
import { describeFailure, runPlacement, seedCount } from "./runs.js"

/**
 * Ring agreement in the seeded simulator: the real placement cores of 3 to
 * 7 nodes over a network that loses, duplicates, delays and reorders
 * messages, with partitions, crashes, restarts with an empty memory,
 * pauses, joins, leaves and forced removals, all drawn from one seed. A
 * failure prints its seed and schedule: pin the seed in REGRESSIONS.
 */

/** Seeds that once failed: each kept as a schedule that must pass. */
const REGRESSIONS = [
  3, // a new process at an address was removed by an operator's request meant for the old one
  28, // a leave whose movement needed a dead member to pull looped between writeBoth and back
  57, // a readNew with two of a range's replicas dead could never retire its epoch (stuck)
  148, // a revert to the previous ring waited for a barrier it could never get
  10004 // a restarted process asking to join made the old process the ring names at its address look reachable
]

const SEEDS = seedCount(400)

describe("ring agreement under seeded faults", () => {
  it(`never installs two configurations for one epoch (S1), over ${SEEDS} schedules with a noisy failure detector`, () => {
    const failures: Array<string> = []
    for (let seed = 1; seed <= SEEDS && failures.length === 0; seed++) {
      const report = runPlacement(seed, { detectorNoise: 0.01 })
      if (report.violations.length > 0) failures.push(describeFailure(report, report.violations.join("\n")))
    }
    expect(failures).toEqual([])
  })

  it(`converges once the faults heal: every live node on the same stable ring, joiners in (${SEEDS} schedules and the pinned ones)`, () => {
    const failures: Array<string> = []
    for (const seed of [...REGRESSIONS, ...Array.from({ length: SEEDS }, (_, i) => 10_000 + i)]) {
      const report = runPlacement(seed)
      if (report.violations.length > 0) failures.push(describeFailure(report, report.violations.join("\n")))
      else if (report.convergence !== undefined) failures.push(describeFailure(report, report.convergence))
      if (failures.length > 0) break
    }
    expect(failures).toEqual([])
  })
})
