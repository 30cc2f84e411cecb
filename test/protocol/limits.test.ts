import { describe, expect, it } from "vitest"
import { GetRequest } from "../../src/generated/pb/cache.js"
import { keyProblem, messagesOf, recordProblem } from "../../src/protocol/limits.js"
import { decodeInvalidUtf8AsIllFormed, wellFormed } from "../../src/protocol/text.js"

const limits = { maxKeyBytes: 8, maxValueBytes: 4 }

describe("limits", () => {
  it("splits into messages by count and bytes, in order, a large item alone", () => {
    const sizes = [3, 3, 3, 10, 1, 1, 1, 1]
    const messages = messagesOf(sizes, (n) => n, 3, 6)
    expect(messages.map((m) => m.items)).toEqual([[3, 3], [3], [10], [1, 1, 1], [1]])
    expect(messages.map((m) => m.bytes)).toEqual([6, 3, 10, 3, 1])
    expect(messagesOf([], (n: number) => n, 3, 6)).toEqual([])
  })

  it("checks records from peers as client requests are checked", () => {
    const version = { hlc: 1, nodeId: 1, generation: 1 }
    expect(recordProblem("k", { version, value: "12345", expiresAtMs: 0 }, limits)).toMatch(/MAX_VALUE_SIZE/)
    expect(recordProblem("k".repeat(9), undefined, limits)).toMatch(/MAX_KEY_SIZE/)
    expect(recordProblem("k", { version, value: undefined, expiresAtMs: 0 }, limits)).toBeUndefined()
    expect(recordProblem("", undefined, limits)).toMatch(/empty/)
  })

  it("decodes invalid UTF-8 to text that is refused, distinct from a real U+FFFD", () => {
    decodeInvalidUtf8AsIllFormed()
    const ff = GetRequest.decode(Buffer.from([0x0a, 2, 0x61, 0xff])).key
    const fe = GetRequest.decode(Buffer.from([0x0a, 2, 0x61, 0xfe])).key
    const real = GetRequest.decode(GetRequest.encode(GetRequest.fromPartial({ key: "a\uFFFD" })).finish()).key
    expect(real).toBe("a\uFFFD")
    expect(wellFormed(real)).toBe(true)
    expect(wellFormed(ff)).toBe(false)
    expect(ff).not.toBe(real)
    expect(keyProblem(fe, { maxKeyBytes: 100, maxValueBytes: 100 })).toBe("key is not valid UTF-8")
    expect(GetRequest.decode(Buffer.from([0x0a, 3, 0xe2, 0x82, 0xac])).key).toBe("€")
  })
})
