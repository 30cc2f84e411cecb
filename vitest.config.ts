import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // The fault suite runs on its own (pnpm test:faults): it needs root and network namespaces.
    // The fuzz suite too (pnpm test:fuzz): it loads the machine, and runs one file at a time.
    // The in-memory simulations too (pnpm test:sim): their clock steps must not starve (vitest.sim.config.ts).
    exclude: ["test/faults/**", "test/fuzz/**", "test/**/*.sim.test.ts", "node_modules/**"],
    reporters: ["default", "./testkit/summaryReporter.ts"],
    // Process tests start real nodes; give them room on a shared 2-core machine.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: "forks",
    poolOptions: { forks: { maxForks: 2, minForks: 1 } }
  }
})
