import { describe, expect, it } from "@effect/vitest"
import { Effect, FastCheck as fc, TestClock } from "effect"
import { Hlc } from "../../src/clock/Hlc.js"
import * as timestamp from "../../src/clock/timestamp.js"
import * as V from "../../src/clock/version.js"

describe("Hlc", () => {
  it.prop(
    "tick is strictly increasing whatever the wall clock does",
    [fc.array(fc.oneof(
      fc.record({ wall: fc.integer({ min: 0, max: 2 ** 40 }) }),
      fc.record({ seen: fc.integer({ min: 0, max: 2 ** 50 }) })
    ), { maxLength: 300 })],
    ([steps]) => {
      let last = 0
      let highestSeen = 0
      for (const step of steps) {
        if ("seen" in step) {
          last = timestamp.observe(last, step.seen)
          highestSeen = Math.max(highestSeen, step.seen)
        } else {
          const next = timestamp.tick(last, step.wall)
          expect(next).toBeGreaterThan(last)
          expect(next).toBeGreaterThan(highestSeen)
          expect(next).toBeGreaterThanOrEqual(step.wall * timestamp.LOGICAL_PER_MS)
          last = next
        }
      }
    }
  )

  it.effect("hands out increasing versions even when the clock goes back", () =>
    Effect.gen(function*() {
      const hlc = yield* Hlc
      yield* TestClock.setTime(10_000)
      const a = hlc.next()
      const b = hlc.next()
      yield* TestClock.setTime(5_000) // the wall clock jumps back
      const c = hlc.next()
      expect(V.compare(b, a)).toBeGreaterThan(0)
      expect(V.compare(c, b)).toBeGreaterThan(0)
      expect(timestamp.wallMsOf(a.hlc)).toBe(10_000)
    }).pipe(Effect.provide(Hlc.layerFixed(7, 1))))

  it.effect("moves past versions it observes within MAX_CLOCK_OFFSET", () =>
    Effect.gen(function*() {
      const hlc = yield* Hlc
      yield* TestClock.setTime(1_000)
      const remote = { hlc: 1_400 * timestamp.LOGICAL_PER_MS + 5, nodeId: 9, generation: 9 }
      expect(hlc.problem(remote)).toBeUndefined()
      hlc.observe(remote)
      const next = hlc.next()
      expect(next.hlc).toBeGreaterThan(remote.hlc)
      expect(next).toMatchObject({ nodeId: 7, generation: 1 })
    }).pipe(Effect.provide(Hlc.layerFixed(7, 1, 500))))

  it.effect("refuses versions further ahead than MAX_CLOCK_OFFSET and is not moved by them", () =>
    Effect.gen(function*() {
      const hlc = yield* Hlc
      yield* TestClock.setTime(1_000)
      for (const ahead of [1_501 * timestamp.LOGICAL_PER_MS, 99_000 * timestamp.LOGICAL_PER_MS, Number.MAX_SAFE_INTEGER - 3, 2 ** 60]) {
        const remote = { hlc: ahead, nodeId: 9, generation: 9 }
        expect(hlc.problem(remote)).toMatch(/ahead of this clock/)
        hlc.observe(remote)
      }
      expect(timestamp.wallMsOf(hlc.next().hlc)).toBe(1_000)
    }).pipe(Effect.provide(Hlc.layerFixed(7, 1, 500))))

  it("fails loudly rather than hand out a timestamp past 2^53", () => {
    expect(() => timestamp.tick(Number.MAX_SAFE_INTEGER, 0)).toThrow(/exhausted/)
  })

  it("orders versions by hlc, then node, then generation", () => {
    expect(V.compare({ hlc: 2, nodeId: 0, generation: 0 }, { hlc: 1, nodeId: 9, generation: 9 })).toBeGreaterThan(0)
    expect(V.compare({ hlc: 1, nodeId: 2, generation: 0 }, { hlc: 1, nodeId: 1, generation: 9 })).toBeGreaterThan(0)
    expect(V.compare({ hlc: 1, nodeId: 1, generation: 2 }, { hlc: 1, nodeId: 1, generation: 1 })).toBeGreaterThan(0)
    expect(V.compare({ hlc: 1, nodeId: 1, generation: 1 }, { hlc: 1, nodeId: 1, generation: 1 })).toBe(0)
  })
})
