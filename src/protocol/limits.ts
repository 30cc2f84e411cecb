import { wellFormed } from "./text.js"
import { keyBytes, type Value, valueBytes, type Write } from "../store/entry.js"

/** Size limits a request is checked against. */
export interface RequestLimits {
  readonly maxKeyBytes: number
  readonly maxValueBytes: number
}

/** Why a key is unacceptable, or undefined when it is fine. */
export const keyProblem = (key: string, limits: RequestLimits): string | undefined => {
  if (key.length === 0) return "key must not be empty"
  if (!wellFormed(key)) return "key is not valid UTF-8"
  // UTF-8 needs at most 3 bytes per UTF-16 unit: skip the count for short keys.
  if (key.length * 3 <= limits.maxKeyBytes) return undefined
  const bytes = keyBytes(key)
  return bytes > limits.maxKeyBytes
    ? `key is ${bytes} bytes; the limit is ${limits.maxKeyBytes} bytes (MAX_KEY_SIZE)`
    : undefined
}

/** Why a value is unacceptable, or undefined when it is fine. */
export const valueProblem = (value: Value | undefined, limits: RequestLimits): string | undefined => {
  if (value === undefined) return "value is required: set value (text) or value_bytes (binary)"
  if (typeof value === "string" && !wellFormed(value)) return "value is not valid UTF-8: send binary data in value_bytes"
  const bytes = typeof value === "string" && value.length * 3 <= limits.maxValueBytes ? 0 : valueBytes(value)
  return bytes > limits.maxValueBytes
    ? `value is ${bytes} bytes; the limit is ${limits.maxValueBytes} bytes (MAX_VALUE_SIZE)`
    : undefined
}

/**
 * Why a record from a peer (a replica operation, a pulled record) is
 * unacceptable: the same limits as a client's request, so no path stores
 * what a client could not.
 */
export const recordProblem = (key: string, write: Write | undefined, limits: RequestLimits): string | undefined =>
  keyProblem(key, limits) ?? (write?.value === undefined ? undefined : valueProblem(write.value, limits))

/** Bytes a record costs on the wire besides its key and value: version, expiry, framing. */
const RECORD_WIRE_OVERHEAD = 40

/** About what a record or replica operation costs on the wire: key, value, version and framing. */
export const wireBytes = ({ key, write }: { readonly key: string; readonly write?: Write | undefined }): number =>
  keyBytes(key) + (write?.value === undefined ? 0 : valueBytes(write.value)) + RECORD_WIRE_OVERHEAD

/**
 * Splits items into consecutive messages of at most `maxItems` items and
 * `maxBytes` bytes, in order; an item larger than `maxBytes` goes alone.
 */
export const messagesOf = <A>(
  items: ReadonlyArray<A>,
  bytesOf: (item: A) => number,
  maxItems: number,
  maxBytes: number
): Array<{ readonly items: Array<A>; readonly bytes: number }> => {
  const messages: Array<{ items: Array<A>; bytes: number }> = []
  let current = { items: [] as Array<A>, bytes: 0 }
  for (const item of items) {
    const bytes = bytesOf(item)
    if (current.items.length > 0 && (current.items.length >= maxItems || current.bytes + bytes > maxBytes)) {
      messages.push(current)
      current = { items: [], bytes: 0 }
    }
    current.items.push(item)
    current.bytes += bytes
  }
  if (current.items.length > 0) messages.push(current)
  return messages
}
