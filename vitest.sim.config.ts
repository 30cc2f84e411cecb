import { defineConfig } from "vitest/config"

/**
 * The in-memory simulations (`*.sim.test.ts`): whole clusters on a lossy
 * in-memory network, driven by Effect's TestClock. Each clock step waits
 * until every fiber of the test is suspended, across real timer turns, so on
 * a CPU shared with process tests a run that takes 5 s alone took over 90 s.
 * They run after the unit suite, one file at a time.
 */
export default defineConfig({
  test: {
    include: ["test/**/*.sim.test.ts"],
    reporters: ["default", "./testkit/summaryReporter.ts"],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: "forks",
    fileParallelism: false
  }
})
