import fc from "fast-check"
import { rawFieldBytes, type RawField } from "./wire.js"

/**
 * Byte-level mutations of valid encodings: what a corrupt or hostile peer
 * sends past any schema. Positions are fractions of the message length, so a
 * program applies to a message of any size.
 */
export type Mutation =
  | { readonly op: "flip"; readonly at: number; readonly bit: number }
  | { readonly op: "set"; readonly at: number; readonly value: number }
  | { readonly op: "insert"; readonly at: number; readonly bytes: Uint8Array }
  | { readonly op: "delete"; readonly at: number; readonly length: number }
  | { readonly op: "truncate"; readonly at: number }
  | { readonly op: "duplicate"; readonly at: number; readonly length: number }
  | { readonly op: "append"; readonly field: RawField }

/** Where in the message: uniform (fast-check's bias would put nearly every mutation on the first byte). */
const at = fc.noBias(fc.integer({ min: 0, max: 999_999 })).map((n) => n / 1_000_000)
const HUGE_VARINT = Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0x0f])
const TEN_BYTE_VARINT = Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01])

/** A field appended after the message: a known field number with the wrong wire type or an extreme value, or an unknown one. */
export const rawField: fc.Arbitrary<RawField> = fc.oneof(
  fc.record({ field: fc.integer({ min: 1, max: 12 }), kind: fc.constant("varint" as const), value: fc.constantFrom(0n, 1n, 2n ** 32n, 2n ** 53n + 1n, 2n ** 63n, 2n ** 64n - 1n, -1n) }),
  fc.record({ field: fc.integer({ min: 1, max: 12 }), kind: fc.constant("bytes" as const), value: fc.uint8Array({ maxLength: 16 }) }),
  fc.record({ field: fc.constantFrom(1, 2, 3, 4, 5, 99, 536_870_911), kind: fc.constant("fixed32" as const), value: fc.integer({ min: 0, max: 0xffffffff }) }),
  fc.record({ field: fc.constantFrom(1, 2, 3, 4, 5, 1000), kind: fc.constant("fixed64" as const), value: fc.bigInt(0n, 2n ** 64n - 1n) })
)

export const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant("flip" as const), at, bit: fc.integer({ min: 0, max: 7 }) }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant("set" as const), at, value: fc.oneof(fc.constantFrom(0x00, 0x01, 0x7f, 0x80, 0xff), fc.integer({ min: 0, max: 255 })) }) },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant("insert" as const),
      at,
      bytes: fc.oneof(fc.uint8Array({ minLength: 1, maxLength: 8 }), fc.constantFrom(HUGE_VARINT, TEN_BYTE_VARINT))
    })
  },
  { weight: 2, arbitrary: fc.record({ op: fc.constant("delete" as const), at, length: fc.integer({ min: 1, max: 16 }) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant("truncate" as const), at }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("duplicate" as const), at, length: fc.integer({ min: 1, max: 64 }) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant("append" as const), field: rawField }) }
)

export const mutations = fc.array(mutation, { minLength: 1, maxLength: 4 })

const apply = (bytes: Buffer, m: Mutation): Buffer => {
  const pos = "at" in m ? Math.floor(m.at * bytes.length) : bytes.length
  switch (m.op) {
    case "flip":
    case "set": {
      if (bytes.length === 0) return bytes
      const copy = Buffer.from(bytes)
      copy[pos] = m.op === "flip" ? copy[pos]! ^ (1 << m.bit) : m.value
      return copy
    }
    case "insert":
      return Buffer.concat([bytes.subarray(0, pos), m.bytes, bytes.subarray(pos)])
    case "delete":
      return Buffer.concat([bytes.subarray(0, pos), bytes.subarray(pos + m.length)])
    case "truncate":
      return Buffer.from(bytes.subarray(0, pos))
    case "duplicate":
      return Buffer.concat([bytes.subarray(0, pos + m.length), bytes.subarray(pos, pos + m.length), bytes.subarray(pos + m.length)])
    case "append":
      return Buffer.concat([bytes, rawFieldBytes(m.field)])
  }
}

/** The bytes after every mutation of the program, in order. */
export const mutate = (bytes: Buffer, program: ReadonlyArray<Mutation>): Buffer => program.reduce(apply, bytes)

/** A short description of a program, for reports. */
export const describeMutations = (program: ReadonlyArray<Mutation>): string =>
  program.map((m) => ("at" in m ? `${m.op}@${m.at.toFixed(3)}` : `append field ${m.field.field} ${m.field.kind}`)).join(", ")
