import { defineConfig } from "vitest/config"

/**
 * `pnpm test:fuzz`: the fuzz suite and its regression tests against live
 * nodes (test/fuzz). One file at a time: the fuzz loads the machine, and
 * other tests' timing must not feel it. Knobs: test/fuzz/support/options.ts.
 */
export default defineConfig({
  test: {
    include: ["test/fuzz/**/*.test.ts"],
    reporters: ["default", "./testkit/summaryReporter.ts"],
    testTimeout: 120_000,
    hookTimeout: 60_000,
    pool: "forks",
    fileParallelism: false
  }
})
