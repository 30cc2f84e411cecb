import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, TestClock } from "effect"
import { NodeConfig } from "../../src/config/NodeConfig.js"
import { RateLimiter } from "../../src/ratelimit/RateLimiter.js"

const withLimiter = (rateLimit: number, rateLimitBurst: number, rateLimitPerClient = 0, rateLimitPerClientBurst = 1) =>
  Effect.provide(
    RateLimiter.Default.pipe(Layer.provide(NodeConfig.layer({ rateLimit, rateLimitBurst, rateLimitPerClient, rateLimitPerClientBurst })))
  )

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

  it.effect("gives each client its own bucket under the node's; a refused client takes nothing from the others", () =>
    Effect.gen(function*() {
      const { tryAcquire } = yield* RateLimiter
      let greedy = 0
      for (let i = 0; i < 100; i++) if (tryAcquire("ipv4:10.0.0.1:1000") === 0) greedy++
      expect(greedy).toBe(4)
      let others = 0
      for (let c = 0; c < 4; c++) for (let i = 0; i < 4; i++) if (tryAcquire(`ipv4:10.0.0.2:${c}`) === 0) others++
      expect(others).toBe(6) // the node's bucket of 10, less the greedy client's 4
      yield* TestClock.adjust("100 millis") // one token per bucket
      expect(tryAcquire("ipv4:10.0.0.1:1000")).toBe(0)
    }).pipe(withLimiter(10, 10, 10, 4)))
})
