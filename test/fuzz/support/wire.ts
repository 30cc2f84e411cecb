import { BinaryWriter } from "@bufbuild/protobuf/wire"

/**
 * Protobuf bytes that ts-proto's encoders can not write on their own: string
 * fields holding invalid UTF-8, and top-level fields with values outside
 * their declared range (a uint64 of 2^64 - 1, a negative int, a varint on a
 * string field). Everything else is the generated encoder's own output.
 */

/** A message type as ts-proto generates it. */
export interface MessageType<T> {
  readonly encode: (message: T, writer?: BinaryWriter) => BinaryWriter
  readonly decode: (input: Uint8Array, length?: number) => T
  readonly fromPartial: (object: never) => T
}

const PLACEHOLDER = "\uE000raw-utf8:"
const rawStrings = new Map<string, Uint8Array>()

/**
 * A string that stands for `bytes` in a message: the fuzz writer puts
 * exactly these bytes on the wire (invalid UTF-8 included) where ts-proto
 * would have written the placeholder's UTF-8.
 */
export const rawUtf8 = (bytes: Uint8Array): string => {
  const placeholder = `${PLACEHOLDER}${Buffer.from(bytes).toString("hex")}`
  rawStrings.set(placeholder, bytes)
  return placeholder
}

/** Whether a string came from `rawUtf8`, and its bytes. */
export const rawBytesOf = (text: string): Uint8Array | undefined => text.startsWith(PLACEHOLDER) ? rawStrings.get(text) : undefined

/** Replaces placeholders made by `rawUtf8` with their bytes; nested messages share the writer, so their lengths stay right. */
class FuzzWriter extends BinaryWriter {
  override string(value: string): this {
    const raw = rawBytesOf(value)
    return raw === undefined ? super.string(value) : this.bytes(raw)
  }
}

/** Bytes of a field appended after a message: the last value of a scalar field wins, so it overrides. */
export type RawField =
  | { readonly field: number; readonly kind: "varint"; readonly value: bigint }
  | { readonly field: number; readonly kind: "bytes"; readonly value: Uint8Array }
  | { readonly field: number; readonly kind: "fixed32"; readonly value: number }
  | { readonly field: number; readonly kind: "fixed64"; readonly value: bigint }

export const varint = (value: bigint): Array<number> => {
  let v = BigInt.asUintN(64, value)
  const out: Array<number> = []
  do {
    const low = Number(v & 0x7fn)
    v >>= 7n
    out.push(v > 0n ? low | 0x80 : low)
  } while (v > 0n)
  return out
}

const WIRE_TYPE = { varint: 0, fixed64: 1, bytes: 2, fixed32: 5 } as const

export const rawFieldBytes = (raw: RawField): Uint8Array => {
  const tag = varint(BigInt((raw.field << 3) | WIRE_TYPE[raw.kind]))
  switch (raw.kind) {
    case "varint":
      return Uint8Array.from([...tag, ...varint(raw.value)])
    case "bytes":
      return Buffer.concat([Uint8Array.from([...tag, ...varint(BigInt(raw.value.byteLength))]), raw.value])
    case "fixed32": {
      const b = Buffer.alloc(4)
      b.writeUInt32LE(raw.value >>> 0)
      return Buffer.concat([Uint8Array.from(tag), b])
    }
    case "fixed64": {
      const b = Buffer.alloc(8)
      b.writeBigUInt64LE(BigInt.asUintN(64, raw.value))
      return Buffer.concat([Uint8Array.from(tag), b])
    }
  }
}

/** The message's bytes as ts-proto writes them, with raw strings in place and `extra` fields appended. */
export const encodeWith = <T>(type: MessageType<T>, message: T, extra: ReadonlyArray<RawField> = []): Buffer => {
  const body = type.encode(message, new FuzzWriter()).finish()
  return extra.length === 0 ? Buffer.from(body.buffer, body.byteOffset, body.byteLength) : Buffer.concat([body, ...extra.map(rawFieldBytes)])
}
