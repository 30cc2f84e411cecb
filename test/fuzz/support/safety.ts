import { parseHostPort } from "../../../src/config/parse.js"
import type { MessageType } from "./wire.js"

/**
 * Internal requests name addresses the receiver may dial (a Pull's
 * requester, a replica batch's sender it catches up from, a PingReq's
 * target, the members of a forged configuration, gossip). The fuzz may only
 * ever make a node dial loopback, so every input is checked as the node will
 * see it (decoded by the same generated code) and dropped when any string in
 * it could name another host. Conservative on purpose: a key that happens to
 * look like `example.org:80` is dropped too.
 */

const isLoopbackHost = (host: string) =>
  host === "localhost" || host === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host)

/** Whether a node could take `text` for a host other than this machine's loopback. */
const namesOtherHost = (text: string): boolean => {
  if (text.length > 1_000) return false // no address form is that long (MAX_ADDRESS_LENGTH is 262)
  if (/\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}/.test(text) && !/^\s*\[?127\.\d{1,3}\.\d{1,3}\.\d{1,3}\]?(:\d*)?\s*$/.test(text)) return true
  for (const candidate of [text, text.replace(/^[a-z+]+:\/*/i, "")]) {
    // Addresses on the wire always carry a port (see `addressProblem`), so a bare word is no address.
    const parsed = parseHostPort(candidate, undefined, 0)
    if (parsed.ok && !isLoopbackHost(parsed.value.host)) return true
  }
  return false
}

const walk = (value: unknown, depth: number): boolean => {
  if (typeof value === "string") return namesOtherHost(value)
  if (depth > 64 || value === null || typeof value !== "object" || value instanceof Uint8Array) return false
  for (const item of Array.isArray(value) ? value : Object.values(value)) if (walk(item, depth + 1)) return true
  return false
}

/** Whether sending `bytes` as a `type` request can only make the receiver dial loopback (undecodable bytes are refused before any handler). */
export const loopbackOnly = <T>(type: MessageType<T>, bytes: Uint8Array): boolean => {
  let decoded: T
  try {
    decoded = type.decode(bytes)
  } catch {
    return true
  }
  return !walk(decoded, 0)
}

/** The same check for a JSON document (admin API bodies). */
export const jsonLoopbackOnly = (text: string): boolean => {
  try {
    return !walk(JSON.parse(text), 0)
  } catch {
    return !namesOtherHost(text.slice(0, 1_000))
  }
}
