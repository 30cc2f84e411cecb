import { describe, expect, it } from "vitest"
import { options, targetTimeoutMs, targets } from "./support/options.js"
import { FuzzReport } from "./support/report.js"
import { fuzzTarget } from "./support/runner.js"

/**
 * Fuzzes live three-node clusters of real processes, one per configuration
 * in FUZZ_TARGETS: every pb.CacheService method, every internal cluster.v1
 * method (as a member and as intruders) and the admin HTTP server, with
 * valid-shaped extreme inputs and mutated bytes. After every batch: no node
 * died, none passed the RSS bound, every call was answered in time, and the
 * known keys read back through every node. Prints calls and statuses per
 * method and every finding with where to generate its input again.
 */
describe("fuzz", () => {
  for (const target of targets) {
    it(`keeps a three-node cluster (${target.name}) alive, bounded and answering`, { timeout: targetTimeoutMs() }, async () => {
      const report = new FuzzReport(process.env["FUZZ_VERBOSE"] !== undefined)
      const started = performance.now()
      try {
        await fuzzTarget(target, options, report)
      } finally {
        console.log(`${report.format(`${target.name}, seed ${options.seed}`)}\n  took ${((performance.now() - started) / 1000).toFixed(1)} s`)
      }
      expect(report.findings.map((f) => `[${f.kind}] ${f.phase} / ${f.method}: ${f.detail}`)).toEqual([])
    })
  }
})
