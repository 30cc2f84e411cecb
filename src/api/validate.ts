import { keyBytes, type Value, valueBytes } from "../store/entry.js"

/** Size limits a request is checked against. */
export interface RequestLimits {
  readonly maxKeyBytes: number
  readonly maxValueBytes: number
}

/** Why a key is unacceptable, or undefined when it is fine. */
export const keyProblem = (key: string, limits: RequestLimits): string | undefined => {
  if (key.length === 0) return "key must not be empty"
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
  const bytes = typeof value === "string" && value.length * 3 <= limits.maxValueBytes ? 0 : valueBytes(value)
  return bytes > limits.maxValueBytes
    ? `value is ${bytes} bytes; the limit is ${limits.maxValueBytes} bytes (MAX_VALUE_SIZE)`
    : undefined
}
