import type * as pb from "../generated/pb/cache.js"

/**
 * The three `pb.CacheService` responses encoded straight into one Buffer of
 * the exact size: the same bytes as the generated encoders (same field
 * order, proto3 defaults left out), without their growable writer, forks
 * and final copy, which took about 5% of a one-node Get's CPU
 * (`bench/profile`). A number field that is not a whole number in range
 * (never one of ours) goes to the generated encoder, which knows what to do.
 */

const MAX_UINT32 = 2 ** 32 - 1

/** Bytes of a varint holding `value`, a whole number in [0, 2^53]. */
const varintSize = (value: number): number => {
  let size = 1
  while (value >= 128) {
    value = Math.floor(value / 128)
    size++
  }
  return size
}

const writeVarint = (out: Buffer, pos: number, value: number): number => {
  while (value >= 128) {
    out[pos++] = (value % 128) | 0x80
    value = Math.floor(value / 128)
  }
  out[pos++] = value
  return pos
}

/** A varint field: its tag, then `value`. */
const writeNumberField = (out: Buffer, pos: number, tag: number, value: number): number => {
  out[pos] = tag
  return writeVarint(out, pos + 1, value)
}

const wholeUpTo = (value: number, max: number) => Number.isInteger(value) && value >= 0 && value <= max

/** Whether this module encodes `version` (else: the generated encoder). */
const plainVersion = (version: pb.Version | undefined) =>
  version === undefined ||
  (wholeUpTo(version.hlc, Number.MAX_SAFE_INTEGER) && wholeUpTo(version.nodeId, MAX_UINT32) && wholeUpTo(version.generation, MAX_UINT32))

/** Bytes of a `Version` message's body (0 when there is none). */
const versionSize = (v: pb.Version | undefined): number =>
  v === undefined ? 0 :
  (v.hlc === 0 ? 0 : 1 + varintSize(v.hlc)) +
  (v.nodeId === 0 ? 0 : 1 + varintSize(v.nodeId)) +
  (v.generation === 0 ? 0 : 1 + varintSize(v.generation))

/** Bytes of field `tag` holding `version` (none when undefined). */
const versionFieldSize = (version: pb.Version | undefined, body: number): number =>
  version === undefined ? 0 : 1 + varintSize(body) + body

const writeVersionField = (out: Buffer, pos: number, tag: number, v: pb.Version | undefined, body: number): number => {
  if (v === undefined) return pos
  out[pos++] = tag
  pos = writeVarint(out, pos, body)
  if (v.hlc !== 0) pos = writeNumberField(out, pos, 8, v.hlc)
  if (v.nodeId !== 0) pos = writeNumberField(out, pos, 16, v.nodeId)
  if (v.generation !== 0) pos = writeNumberField(out, pos, 24, v.generation)
  return pos
}

/**
 * `out` when every byte of it was written: `Buffer.allocUnsafe` hands out
 * pooled memory that may hold another call's bytes, and none may leave in a
 * response. A size that does not match (a bug) falls back to the generated encoder.
 */
export const filled = <T>(out: Buffer, written: number, codec: pb.MessageFns<T>, message: T): Buffer =>
  written === out.length ? out : generated(codec, message)

/** A message through its generated encoder, as a Buffer over the same bytes (grpc-js sends it as it is). */
export const generated = <T>(codec: pb.MessageFns<T>, message: T): Buffer => {
  const bytes = codec.encode(message).finish()
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

export const encodeGetResponse = (codec: pb.MessageFns<pb.GetResponse>) => (message: pb.GetResponse): Buffer => {
  const { value, valueBytes, version, ttlRemainingMs } = message
  if (!plainVersion(version) || !wholeUpTo(ttlRemainingMs, Number.MAX_SAFE_INTEGER)) return generated(codec, message)
  const valueSize = value === undefined ? 0 : Buffer.byteLength(value, "utf8")
  const body = versionSize(version)
  const size = (value === undefined ? 0 : 1 + varintSize(valueSize) + valueSize) +
    (valueBytes === undefined ? 0 : 1 + varintSize(valueBytes.byteLength) + valueBytes.byteLength) +
    versionFieldSize(version, body) +
    (ttlRemainingMs === 0 ? 0 : 1 + varintSize(ttlRemainingMs))
  const out = Buffer.allocUnsafe(size)
  let pos = 0
  if (value !== undefined) {
    out[pos++] = 10
    pos = writeVarint(out, pos, valueSize)
    pos += out.write(value, pos, valueSize, "utf8")
  }
  if (valueBytes !== undefined) {
    out[pos++] = 26
    pos = writeVarint(out, pos, valueBytes.byteLength)
    out.set(valueBytes, pos)
    pos += valueBytes.byteLength
  }
  pos = writeVersionField(out, pos, 18, version, body)
  if (ttlRemainingMs !== 0) pos = writeNumberField(out, pos, 32, ttlRemainingMs)
  return filled(out, pos, codec, message)
}

export const encodeSetResponse = (codec: pb.MessageFns<pb.SetResponse>) => (message: pb.SetResponse): Buffer => {
  const { version } = message
  if (!plainVersion(version)) return generated(codec, message)
  const body = versionSize(version)
  const out = Buffer.allocUnsafe(versionFieldSize(version, body))
  return filled(out, writeVersionField(out, 0, 10, version, body), codec, message)
}

export const encodeDeleteResponse = (codec: pb.MessageFns<pb.DeleteResponse>) => (message: pb.DeleteResponse): Buffer => {
  const { version, existed } = message
  if (!plainVersion(version)) return generated(codec, message)
  const body = versionSize(version)
  const out = Buffer.allocUnsafe(versionFieldSize(version, body) + (existed ? 2 : 0))
  let pos = writeVersionField(out, 0, 10, version, body)
  if (existed) {
    out[pos++] = 16
    out[pos++] = 1
  }
  return filled(out, pos, codec, message)
}
