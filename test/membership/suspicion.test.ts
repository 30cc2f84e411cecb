import { describe, expect, it } from "@effect/vitest"
import { suspicionTimeoutMs } from "../../src/membership/suspicion.js"

describe("suspicionTimeoutMs", () => {
  it.each([
    // probeIntervalMs, multiplier, clusterSize, expected
    [1000, 4, 0, 4000],
    [1000, 4, 1, 4000],
    [1000, 4, 10, 4000],
    [1000, 4, 100, 8000],
    [1000, 4, 1000, 12_000],
    [1000, 4, 50, 6796],
    [500, 5, 100, 5000],
    [200, 4, 3, 800]
  ])("interval %ims, multiplier %i, n=%i -> %ims", (probeIntervalMs, multiplier, clusterSize, expected) => {
    expect(suspicionTimeoutMs(probeIntervalMs, multiplier, clusterSize)).toBe(expected)
  })
})
