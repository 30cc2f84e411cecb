import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, TestClock } from "effect"
import { NodeConfig } from "../../src/config/NodeConfig.js"
import { RateLimiter } from "../../src/ratelimit/RateLimiter.js"

const withLimiter = (rateLimit: number, rateLimitBurst: number) =>
  Effect.provide(RateLimiter.Default.pipe(Layer.provide(NodeConfig.layer({ rateLimit, rateLimitBurst }))))

describe("RateLimiter", () => {
  it.effect("admits a burst, then refuses with the wait until the next token", () =>
    Effect.gen(function*() {
      const { tryAcquire } = yield* RateLimiter
      for (let i = 0; i < 5; i++) expect(tryAcquire()).toBe(0)
      expect(tryAcquire()).toBe(100) // 10/s: one token every 100 ms
      yield* TestClock.adjust("60 millis")
      expect(tryAcquire()).toBe(40)
      yield* TestClock.adjust("40 millis")
      expect(tryAcquire()).toBe(0)
      expect(tryAcquire()).toBe(100)
    }).pipe(withLimiter(10, 5)))

  it.effect("refills at the configured rate but never beyond the burst", () =>
    Effect.gen(function*() {
      const { tryAcquire } = yield* RateLimiter
      for (let i = 0; i < 3; i++) expect(tryAcquire()).toBe(0)
      yield* TestClock.adjust("1 hour")
      let admitted = 0
      while (tryAcquire() === 0) admitted++
      expect(admitted).toBe(3)
    }).pipe(withLimiter(1000, 3)))

  it.effect("admits everything when RATE_LIMIT is 0", () =>
    Effect.gen(function*() {
      const { tryAcquire } = yield* RateLimiter
      for (let i = 0; i < 10_000; i++) expect(tryAcquire()).toBe(0)
    }).pipe(withLimiter(0, 1)))
})
