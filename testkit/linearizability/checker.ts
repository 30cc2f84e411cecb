/**
 * Linearizability checker for key/value register histories.
 *
 * Linearizability is local (Herlihy & Wing), so each key is checked on its own
 * (P-compositionality). Per key this is the Wing & Gong search with Lowe's
 * memoisation, as in Porcupine: call and return events sorted by time in a
 * linked list; a depth-first search linearizes a pending call that precedes
 * the earliest pending return, lifts it out of the list, remembers each
 * (linearized set, register state) it reaches, and backtracks when it reaches
 * a return it could not linearize in time or a state it has seen before.
 */
import type { Operation } from "./history.js"
import { ABSENT, describeOp, search, type SearchOp } from "./search.js"

/** Far more than ordinary histories need (thousands); the memo takes 50 to 150 bytes a state. */
export const DEFAULT_MAX_STATES = 2_000_000

export interface CheckOptions {
  /** Distinct states one search may explore before giving up with "timeout". */
  readonly maxStates?: number
  /**
   * A cache's rule: a key may vanish at any moment (eviction, expiry), but
   * an older value never comes back. A read that found nothing then counts
   * as a deletion at some point within the read, not as a read of "absent".
   */
  readonly mayVanish?: boolean
}

export interface KeyVerdict {
  readonly key: string
  readonly ok: boolean | "timeout"
  /**
   * When not ok: the shortest prefix (by invocation order) of this key's
   * history that is already non-linearizable, with every op as recorded
   * (fails and unknowns included). Checking it on its own fails too.
   */
  readonly failingPrefix?: ReadonlyArray<Operation>
  /** A human-readable explanation: the op whose completion broke the history and the deepest point reached. */
  readonly explanation?: string
}

export interface Verdict {
  /** true only when every key is proven linearizable; a key that timed out makes it false. */
  readonly ok: boolean
  /** One per key, in order of first appearance. */
  readonly keys: ReadonlyArray<KeyVerdict>
  /** Ops that constrain the check: ok ops plus writes with an unknown outcome. */
  readonly checkedOps: number
}

export const checkHistory = (history: ReadonlyArray<Operation>, options: CheckOptions = {}): Verdict => {
  const maxStates = options.maxStates ?? DEFAULT_MAX_STATES
  const byKey = new Map<string, Array<Operation>>()
  let checkedOps = 0
  for (const op of history) {
    validate(op)
    if (op.outcome === "ok" || (op.outcome === "unknown" && op.kind !== "get")) checkedOps++
    const ops = byKey.get(op.key)
    if (ops === undefined) byKey.set(op.key, [op])
    else ops.push(op)
  }
  const keys: Array<KeyVerdict> = []
  for (const [key, ops] of byKey) {
    ops.sort((a, b) => a.invokedAtMs - b.invokedAtMs || a.id - b.id)
    keys.push(checkKey(key, ops, maxStates, options.mayVanish === true))
  }
  return { ok: keys.every((k) => k.ok === true), keys, checkedOps }
}

/** A recorder bug should be loud rather than turn into a wrong verdict. */
const validate = (op: Operation): void => {
  if (op.outcome === "ok" && op.completedAtMs === undefined) {
    throw new RangeError(`op #${op.id}: outcome ok needs completedAtMs`)
  }
  if (op.completedAtMs !== undefined && op.completedAtMs < op.invokedAtMs) {
    throw new RangeError(`op #${op.id}: completed (${op.completedAtMs}) before invoked (${op.invokedAtMs})`)
  }
  if (op.kind === "set" && op.value === undefined) throw new RangeError(`op #${op.id}: set without a value`)
}

// ---------------------------------------------------------------------------
// Per key: verdict and shortest failing prefix

const checkKey = (key: string, ops: ReadonlyArray<Operation>, maxStates: number, mayVanish: boolean): KeyVerdict => {
  const observedBy = (cutMs: number) => observedOps(ops, cutMs, mayVanish)
  const full = search(observedBy(Infinity), maxStates)
  if (full._tag === "Linearizable") return { key, ok: true }
  if (full._tag === "GaveUp") {
    return { key, ok: "timeout", explanation: `gave up after exploring ${full.states} states (maxStates ${maxStates})` }
  }
  // Non-linearizability can only appear when an ok op completes (newly invoked
  // ops are pending, hence optional), so the cuts worth trying are ok completions.
  const cuts = [...new Set(ops.flatMap((o) => o.outcome === "ok" ? [o.completedAtMs!] : []))].sort((a, b) => a - b)
  // Invariant: the history as observed at cuts[hi] is non-linearizable.
  let hi = cuts.length - 1
  let failure = full
  // Failing searches are the slow ones, and the op the search got stuck on is
  // usually the culprit: try its cut first so the bisection below mostly
  // probes linearizable prefixes.
  const hintMs = full.blockedBy?.completedAtMs
  if (hintMs !== undefined && hintMs < cuts[hi]!) {
    const result = search(observedBy(hintMs), maxStates)
    if (result._tag === "NotLinearizable") {
      hi = cuts.indexOf(hintMs)
      failure = result
    }
  }
  let lo = 0
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    const result = search(observedBy(cuts[mid]!), maxStates)
    if (result._tag === "NotLinearizable") {
      hi = mid
      failure = result
    } else {
      lo = mid + 1 // a timeout proves nothing; stay with the known failure
    }
  }
  const cutMs = cuts[hi]!
  const failingPrefix = ops.filter((o) => o.invokedAtMs <= cutMs)
  const breakers = ops.filter((o) => o.outcome === "ok" && o.completedAtMs === cutMs).map(describeOp).join(", ")
  return { key, ok: false, failingPrefix, explanation: `not linearizable once ${breakers} completed at ${cutMs} ms. ${failure.reason}` }
}

/**
 * The history as it looked at time cutMs: ops invoked by then, where an op not
 * yet complete is pending (a write may or may not take effect; a read says
 * nothing). This keeps prefixes of a linearizable history linearizable, which
 * the bisection relies on: a read complete by cutMs can only have read a
 * write invoked before it completed, and that write is in the prefix.
 * The recorded ops of the prefix, taken as they are, are at least as strict.
 */
const observedOps = (ops: ReadonlyArray<Operation>, cutMs: number, mayVanish: boolean): Array<SearchOp> => {
  const codes = new Map<string, number>()
  const code = (value: string | undefined): number => {
    if (value === undefined) return ABSENT
    let c = codes.get(value)
    if (c === undefined) codes.set(value, c = codes.size + 1)
    return c
  }
  const result: Array<SearchOp> = []
  for (const op of ops) {
    if (op.invokedAtMs > cutMs || op.outcome === "fail") continue
    const complete = op.outcome === "ok" && op.completedAtMs! <= cutMs
    if (op.kind === "get" && !complete) continue
    // In a cache that may forget, "found nothing" is the key vanishing: a write of "absent".
    const vanished = mayVanish && op.kind === "get" && op.value === undefined
    result.push({
      op,
      kind: vanished ? "delete" : op.kind,
      callAtMs: op.invokedAtMs,
      returnAtMs: complete ? op.completedAtMs! : Infinity,
      required: complete,
      valueCode: op.kind === "delete" || vanished ? ABSENT : code(op.value)
    })
  }
  // A pending write whose value no read returns cannot explain anything, so
  // dropping it keeps the verdict and shrinks the search.
  const read = new Set(result.filter((o) => o.kind === "get").map((o) => o.valueCode))
  return result.filter((o) => o.required || read.has(o.valueCode))
}
