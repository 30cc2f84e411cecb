import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import * as pb from "../../src/generated/pb/cache.js"
import { encodeDeleteResponse, encodeGetResponse, encodeSetResponse, filled } from "../../src/grpc/responseEncoding.js"

/** The bytes, or the error thrown (the generated encoders refuse some numbers, e.g. a negative uint64). */
const outcome = (encode: () => Uint8Array): Buffer | string => {
  try {
    return Buffer.from(encode())
  } catch (error) {
    return String(error)
  }
}
const generated = <T>(codec: pb.MessageFns<T>, message: T) => outcome(() => codec.encode(message).finish())

// Whole numbers at every varint length, and a few that are not whole or not in range (the generated encoder's job).
const uint = (max: number) =>
  fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 127 }), fc.integer({ min: 128, max: 2 ** 31 - 1 }), fc.integer({ min: 0, max: 2 ** 32 - 1 }), fc.maxSafeNat().filter((n) => n <= max))
const version = fc.option(fc.record({ hlc: uint(Number.MAX_SAFE_INTEGER), nodeId: uint(2 ** 32 - 1), generation: uint(2 ** 32 - 1) }), { nil: undefined })
const odd = fc.constantFrom(-1, 0.5, 2 ** 32, 2 ** 60)
const oddVersion = fc.record({ hlc: fc.oneof(uint(Number.MAX_SAFE_INTEGER), odd), nodeId: fc.oneof(uint(2 ** 32 - 1), odd), generation: uint(2 ** 32 - 1) })
// Any UTF-16 text, lone surrogates included (both sides write U+FFFD for them).
const text = fc.string({ unit: fc.oneof(fc.constant("v"), fc.fullUnicode(), fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c))), maxLength: 300 })
const payload = fc.oneof(
  fc.record({ value: text, valueBytes: fc.constant(undefined) }),
  fc.record({ value: fc.constant(undefined), valueBytes: fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)) }),
  fc.constant({ value: undefined, valueBytes: undefined })
)

describe("response encoders", () => {
  it.prop("GetResponse: the same bytes as the generated encoder", [payload, fc.oneof(version, oddVersion), fc.oneof(uint(Number.MAX_SAFE_INTEGER), odd)], ([p, v, ttl]) => {
    const message: pb.GetResponse = { ...p, version: v, ttlRemainingMs: ttl }
    expect(outcome(() => encodeGetResponse(pb.GetResponse)(message))).toEqual(generated(pb.GetResponse, message))
  })

  it.prop("SetResponse and DeleteResponse: the same bytes as the generated encoders", [fc.oneof(version, oddVersion), fc.boolean()], ([v, existed]) => {
    expect(outcome(() => encodeSetResponse(pb.SetResponse)({ version: v }))).toEqual(generated(pb.SetResponse, { version: v }))
    expect(outcome(() => encodeDeleteResponse(pb.DeleteResponse)({ version: v, existed }))).toEqual(generated(pb.DeleteResponse, { version: v, existed }))
  })

  it("decodes back to the message it encoded", () => {
    const message: pb.GetResponse = { value: "é🔑v", valueBytes: undefined, version: { hlc: 2 ** 52 + 5, nodeId: 2 ** 32 - 1, generation: 128 }, ttlRemainingMs: 300 }
    expect(pb.GetResponse.decode(encodeGetResponse(pb.GetResponse)(message))).toEqual(message)
  })

  it("never sends a Buffer with bytes it did not write: a short write falls back to the generated encoder", () => {
    const message: pb.SetResponse = { version: { hlc: 7, nodeId: 1, generation: 1 } }
    const stale = Buffer.alloc(12, 0xee)
    expect(filled(stale, 11, pb.SetResponse, message)).toEqual(generated(pb.SetResponse, message))
    expect(filled(stale, 12, pb.SetResponse, message)).toBe(stale)
  })
})
