import { defineConfig } from "vitest/config"

/** `pnpm test:faults`: the fault suite alone, one file at a time (it owns the network namespaces). */
export default defineConfig({
  test: {
    include: ["test/faults/**/*.test.ts"],
    reporters: ["default", "./testkit/summaryReporter.ts"],
    testTimeout: 120_000,
    hookTimeout: 60_000,
    pool: "forks",
    poolOptions: { forks: { singleFork: true } }
  }
})
