import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Either, Layer, Option, TestClock } from "effect"
import { CacheApi } from "../../src/api/CacheApi.js"
import { NodeConfig, type NodeConfigShape } from "../../src/config/NodeConfig.js"
import * as V from "../../src/clock/version.js"
import { SoloCore } from "../../testkit/layers.js"

const withApi = (overrides: Partial<NodeConfigShape> = {}) =>
  Effect.provide(SoloCore.pipe(Layer.provide(NodeConfig.layer({ maxKeyBytes: 8, maxValueBytes: 16, ...overrides }))))
const valueOf = (key: string) =>
  Effect.flatMap(CacheApi, (api) => api.get(key, undefined)).pipe(Effect.map(Option.map((found) => found.value)))
const set = (key: string, value: string | Uint8Array | undefined, ttlSeconds?: number) =>
  Effect.flatMap(CacheApi, (api) => api.set({ key, value, ttlSeconds, consistency: undefined }))

describe("CacheApi", () => {
  it.scoped("sets, gets and deletes, with increasing versions", () =>
    Effect.gen(function*() {
      const api = yield* CacheApi
      const first = yield* set("foo", "bar")
      expect(first.existed).toBe(false)
      const second = yield* set("foo", new Uint8Array([0, 255]))
      expect(second.existed).toBe(true)
      expect(V.compare(second.version, first.version)).toBeGreaterThan(0)
      const found = Option.getOrThrow(yield* api.get("foo", "QUORUM"))
      expect(found.value).toEqual(new Uint8Array([0, 255]))
      expect(found.version).toEqual(second.version)
      expect((yield* api.delete("foo", undefined)).existed).toBe(true)
      expect(yield* valueOf("foo")).toEqual(Option.none())
      expect((yield* api.delete("foo", undefined)).existed).toBe(false)
    }).pipe(withApi()))

  it.scoped("rejects bad input with a message and leaves stored data alone", () =>
    Effect.gen(function*() {
      const api = yield* CacheApi
      yield* set("k", "kept")
      const rejections = [
        [set("", "x"), "key must not be empty"],
        [set("k".repeat(9), "x"), "key is 9 bytes; the limit is 8 bytes (MAX_KEY_SIZE)"],
        [set("ééééé", "x"), "key is 10 bytes; the limit is 8 bytes (MAX_KEY_SIZE)"],
        [set("k", "x".repeat(17)), "value is 17 bytes; the limit is 16 bytes (MAX_VALUE_SIZE)"],
        [set("k", new Uint8Array(17)), "value is 17 bytes; the limit is 16 bytes (MAX_VALUE_SIZE)"],
        [set("k", undefined), "value is required"],
        [api.get("", undefined), "key must not be empty"],
        [api.delete("", undefined), "key must not be empty"]
      ] as const
      for (const [effect, message] of rejections) {
        const result = yield* Effect.either(effect as Effect.Effect<unknown, { _tag: string; message: string }>)
        expect(Either.isLeft(result) && result.left._tag).toBe("InvalidArgument")
        expect(Either.isLeft(result) && result.left.message).toContain(message)
      }
      expect(yield* valueOf("k")).toEqual(Option.some("kept"))
    }).pipe(withApi()))

  it.scoped("expires values after the default TTL, or the per-request one, or never with 0", () =>
    Effect.gen(function*() {
      yield* set("default", "d")
      yield* set("short", "s", 2)
      yield* set("forever", "f", 0)
      yield* TestClock.adjust("2 seconds")
      expect(yield* valueOf("short")).toEqual(Option.none())
      expect(yield* valueOf("default")).toEqual(Option.some("d"))
      yield* TestClock.adjust("1 hour")
      expect(yield* valueOf("default")).toEqual(Option.none())
      expect(yield* valueOf("forever")).toEqual(Option.some("f"))
    }).pipe(withApi({ expirySweepInterval: Duration.days(1) }))) // lazy expiry on read, not the sweeper

  it.scoped("refuses calls over the rate limit and admits them again once tokens refill", () =>
    Effect.gen(function*() {
      for (let i = 0; i < 3; i++) yield* set(`k${i}`, "v")
      const refused = yield* Effect.either(set("k9", "v"))
      expect(Either.isLeft(refused) && refused.left._tag).toBe("RateLimited")
      expect(Either.isLeft(refused) && refused.left.message).toContain("rate limit exceeded")
      yield* TestClock.adjust("1 second")
      expect(Either.isRight(yield* Effect.either(set("k9", "v")))).toBe(true)
    }).pipe(withApi({ rateLimit: 3, rateLimitBurst: 3 })))
})
