import type { Reporter, TestModule } from "vitest/node"

/**
 * Ends the run with the plain line `N passed, N failed[, N skipped]`, which
 * CI reads whatever the runner.
 */
export default class SummaryReporter implements Reporter {
  private line = ""

  onTestRunEnd(testModules: ReadonlyArray<TestModule>): void {
    const counts = { passed: 0, failed: 0, skipped: 0 }
    for (const module of testModules) {
      for (const test of module.children.allTests()) {
        const state = test.result().state
        if (state === "passed") counts.passed++
        else if (state === "failed") counts.failed++
        else counts.skipped++
      }
      if (module.state() === "failed" && module.children.size === 0) counts.failed++
    }
    const skipped = counts.skipped > 0 ? `, ${counts.skipped} skipped` : ""
    this.line = `${counts.passed} passed, ${counts.failed} failed${skipped}`
  }

  // Runs after the default reporter's summary, so the line comes last.
  onFinished(): void {
    process.stdout.write(`\n${this.line}\n`)
  }
}
