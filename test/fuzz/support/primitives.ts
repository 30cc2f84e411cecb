import fc from "fast-check"
import { rawUtf8 } from "./wire.js"

/**
 * Field values at the edges of what the protocol allows. Large values are
 * built from a length and a fill rather than generated element by element,
 * so a 4 MiB field costs one allocation, not four million random draws.
 */

/** Keys the fuzz never sends: the known keys the suite checks live under it (see `knownKeys.ts`). */
export const RESERVED_PREFIX = "fuzz-known:7d1c2e/"

/** Sizes that matter for this cache: the key and value limits, the message limit, and either side of each. */
export const sizesNear = (limits: { readonly maxKeyBytes: number; readonly maxValueBytes: number; readonly maxMessageBytes: number }) => [
  limits.maxKeyBytes - 1,
  limits.maxKeyBytes,
  limits.maxKeyBytes + 1,
  100_000,
  limits.maxValueBytes - 1,
  limits.maxValueBytes,
  limits.maxValueBytes + 1,
  3_000_000,
  limits.maxMessageBytes - 64,
  limits.maxMessageBytes + 1
]

export type Limits = Parameters<typeof sizesNear>[0]

/** Text that is not valid UTF-8 once on the wire: lone continuation bytes, overlongs, surrogates, truncated sequences, 0xff. */
const invalidUtf8 = fc
  .tuple(
    fc.string({ unit: "grapheme-ascii", maxLength: 8 }),
    fc.constantFrom([0xff], [0xfe], [0x80], [0xc0, 0x80], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xe2, 0x82], [0xf0, 0x9f, 0x98])
  )
  .map(([prefix, bad]) => rawUtf8(Buffer.concat([Buffer.from(prefix), Uint8Array.from(bad)])))

/** A long string of one repeated character (one to four UTF-8 bytes each). */
const longString = (sizes: ReadonlyArray<number>) =>
  fc.record({ unit: fc.constantFrom("x", "é", "€", "😀", "\u0000"), bytes: fc.constantFrom(...sizes) })
    .map(({ unit, bytes }) => unit.repeat(Math.max(1, Math.floor(bytes / Buffer.byteLength(unit)))))

/**
 * Text of any code points, surrogates excluded (they cannot be encoded). Not
 * fc.string's "binary" unit: checking whether it could shrink a value builds
 * a map of every code point, over a second per arbitrary.
 */
const anyCodePoints = fc
  .array(fc.oneof(fc.integer({ min: 0, max: 0xd7ff }), fc.integer({ min: 0xe000, max: 0x10ffff })), { maxLength: 24 })
  .map((points) => String.fromCodePoint(...points))

/** Any string a field may carry, from empty to megabytes, printable to invalid. */
export const fuzzString = (limits: Limits, big = true): fc.Arbitrary<string> =>
  fc.oneof(
    { weight: 6, arbitrary: fc.string({ maxLength: 12 }) },
    { weight: 3, arbitrary: anyCodePoints },
    { weight: 2, arbitrary: fc.constant("") },
    { weight: 2, arbitrary: invalidUtf8 },
    { weight: 1, arbitrary: fc.constantFrom("\uD800", "a\uDFFFb", "\u0000", "\u202E\u2066", "\uFEFF", "e\u0301", "\u{10FFFF}") },
    { weight: big ? 2 : 0, arbitrary: longString(sizesNear(limits)) },
    { weight: big ? 0 : 1, arbitrary: longString([limits.maxKeyBytes, 1000]) }
  )

/** A key: any string, but never one under the reserved prefix. */
export const fuzzKey = (limits: Limits): fc.Arbitrary<string> =>
  fuzzString(limits).map((key) => key.startsWith(RESERVED_PREFIX) ? `x${key}` : key)

/** Bytes from none to past the message limit. */
export const fuzzBytes = (limits: Limits): fc.Arbitrary<Uint8Array> =>
  fc.oneof(
    { weight: 8, arbitrary: fc.uint8Array({ maxLength: 48 }) },
    {
      weight: 1,
      arbitrary: fc.record({ fill: fc.integer({ min: 0, max: 255 }), size: fc.constantFrom(...sizesNear(limits)) })
        .map(({ fill, size }) => new Uint8Array(size).fill(fill))
    }
  )

const U32_EDGES = [0, 1, 2, 0x7f, 0x80, 0xffff, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff]

/** A uint32, biased to the edges. */
export const u32 = (): fc.Arbitrary<number> =>
  fc.oneof({ weight: 2, arbitrary: fc.constantFrom(...U32_EDGES) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 0xffffffff }) })

/**
 * A uint64 as ts-proto types it (a number), biased to the edges; some are
 * bigints past 2^53 (the encoder takes them; the receiver's decoder must
 * refuse them rather than round).
 */
export const u64 = (): fc.Arbitrary<number> =>
  fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(0, 1, 2, 0xffffffff, 2 ** 32, 2 ** 40, Number.MAX_SAFE_INTEGER - 1, Number.MAX_SAFE_INTEGER) },
    { weight: 4, arbitrary: fc.maxSafeNat() },
    { weight: 1, arbitrary: fc.constantFrom(2n ** 53n + 1n, 2n ** 63n, 2n ** 64n - 1n).map((n) => n as unknown as number) }
  )

/** An epoch: mostly the receiver's own (so requests get past the epoch check), else around it or extreme. */
export const fuzzEpoch = (current: number): fc.Arbitrary<number> =>
  fc.oneof(
    { weight: 6, arbitrary: fc.constant(current) },
    { weight: 2, arbitrary: fc.constantFrom(0, Math.max(0, current - 1), current + 1, current + 1000) },
    { weight: 1, arbitrary: u64() }
  )

/** An enum value: a known one, or one the receiver has never heard of. */
export const fuzzEnum = (known: ReadonlyArray<number>): fc.Arbitrary<number> =>
  fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...known) },
    { weight: 1, arbitrary: fc.constantFrom(-1, known.length, 99, 0x7fffffff, -0x80000000) }
  )

/** One value repeated `count` times (one shared element, so a million entries cost a million pointers). */
export const repeatedLong = <T>(item: fc.Arbitrary<T>, counts: ReadonlyArray<number>): fc.Arbitrary<Array<T>> =>
  fc.record({ item, count: fc.constantFrom(...counts) }).map(({ item, count }) => new Array<T>(count).fill(item))

/**
 * A repeated field: mostly a short list of `item`, sometimes one `longItem`
 * (a small one: it is repeated up to `counts` times) repeated.
 */
export const repeated = <T>(item: fc.Arbitrary<T>, counts: ReadonlyArray<number>, maxShort: number, longItem: fc.Arbitrary<T>, longWeight = 1): fc.Arbitrary<Array<T>> =>
  fc.oneof({ weight: 8, arbitrary: fc.array(item, { maxLength: maxShort }) }, { weight: longWeight, arbitrary: repeatedLong(longItem, counts) })

/** A string that stays under `max` characters when shown in a report. */
export const preview = (value: unknown, max = 160): string => {
  const seen = (v: unknown, depth: number): unknown => {
    if (typeof v === "string") return v.length > 40 ? `<string ${v.length} chars ${JSON.stringify(v.slice(0, 12))}…>` : v
    if (typeof v === "bigint") return `${v}n`
    if (v instanceof Uint8Array) return `<${v.byteLength} bytes>`
    if (Array.isArray(v)) return v.length > 4 ? [`<${v.length} items>`, seen(v[0], depth + 1)] : v.map((x) => seen(x, depth + 1))
    if (v !== null && typeof v === "object" && depth < 6) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, seen(x, depth + 1)]))
    return v
  }
  const text = JSON.stringify(seen(value, 0)) ?? String(value)
  return text.length > max ? `${text.slice(0, max)}…` : text
}
