import { Effect, Layer } from "effect"
import { afterEach, describe, expect, it, vi } from "vitest"
import { type LogFormat, NodeConfig } from "../../src/config/NodeConfig.js"
import { LoggingLive } from "../../src/logging/Logging.js"

/**
 * Much of what a node logs comes from peers and clients (addresses,
 * reasons). A forged address with a newline and an escape sequence must not
 * forge a log line or repaint a terminal in any format, and a 1 MB one must
 * not be logged whole.
 */
const hostile = `10.0.0.9:8080\n{"level":"error","msg":"forged"}\u001b[2J\u001b[31m${"x".repeat(1_000_000)}`

/** Everything the node wrote for one log call in `format`, whichever stream it used. */
const written = async (format: LogFormat): Promise<string> => {
  const chunks: Array<string> = []
  const capture = (...args: Array<unknown>) => {
    chunks.push(args.map(String).join(" "))
  }
  vi.spyOn(console, "log").mockImplementation(capture)
  vi.spyOn(console, "error").mockImplementation(capture)
  vi.spyOn(console, "group").mockImplementation(capture)
  vi.spyOn(process.stdout, "write").mockImplementation((chunk: unknown) => {
    capture(chunk)
    return true
  })
  await Effect.runPromise(
    Effect.logWarning("peer said", hostile).pipe(
      Effect.annotateLogs({ from: hostile, list: [hostile] }),
      Effect.provide(LoggingLive.pipe(Layer.provide(NodeConfig.layer({ logFormat: format }))))
    )
  )
  vi.restoreAllMocks()
  return chunks.join("")
}

afterEach(() => vi.restoreAllMocks())

describe("log lines from hostile input", () => {
  for (const format of ["json", "pretty", "logfmt"] as const) {
    it(`stay one bounded line without control characters (${format})`, async () => {
      const out = await written(format)
      expect(out).toContain("10.0.0.9:8080")
      // eslint-disable-next-line no-control-regex
      const withoutColours = out.replace(/\u001b\[[0-9;]*m/g, "")
      expect(withoutColours).not.toContain("\u001b")
      expect(withoutColours.trimEnd().split("\n").filter((l) => l.includes("forged")).length).toBeLessThanOrEqual(1)
      expect(withoutColours).not.toMatch(/\n\{"level":"error","msg":"forged"\}/)
      expect(out.length).toBeLessThan(10_000)
    })
  }
})
