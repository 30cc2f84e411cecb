/**
 * Linearizability checker for key/value register histories.
 *
 * Linearizability is local (Herlihy & Wing), so each key is checked on its own
 * (P-compositionality). Per key this is the Wing & Gong search with Lowe's
 * memoisation, as in Porcupine: call and return events sorted by time in a
 * linked list; a depth-first search linearizes a pending call that precedes
 * the earliest pending return, lifts it out of the list, and backtracks when
 * it reaches a return it could not linearize in time.
 */
import type { Operation, OpKind } from "./history.js"

/** Enough for any ordinary history; a few hundred MB of memo in the worst case. */
export const DEFAULT_MAX_STATES = 2_000_000

export interface CheckOptions {
  /** Distinct (linearized set, register state) pairs to explore per search before giving up with "timeout". */
  readonly maxStates?: number
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
    keys.push(checkKey(key, ops, maxStates))
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

const checkKey = (key: string, ops: ReadonlyArray<Operation>, maxStates: number): KeyVerdict => {
  const full = search(observedBy(ops, Infinity), maxStates)
  if (full._tag === "Linearizable") return { key, ok: true }
  if (full._tag === "GaveUp") {
    return { key, ok: "timeout", explanation: `gave up after exploring ${full.states} states (maxStates ${maxStates})` }
  }
  // Non-linearizability can only appear when an ok op completes (new pending ops
  // are optional), so the cut points worth trying are the ok completion times.
  const cuts = [...new Set(ops.flatMap((o) => o.outcome === "ok" ? [o.completedAtMs!] : []))].sort((a, b) => a - b)
  // Invariant: the history as observed at cuts[hi] is non-linearizable (the full one is).
  let lo = 0
  let hi = cuts.length - 1
  let failure = full
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    const result = search(observedBy(ops, cuts[mid]!), maxStates)
    if (result._tag === "NotLinearizable") {
      hi = mid
      failure = result
    } else {
      lo = mid + 1 // a timeout proves nothing; stay with the known failure
    }
  }
  const cutMs = cuts[hi]!
  const failingPrefix = ops.filter((o) => o.invokedAtMs <= cutMs)
  const breakers = ops.filter((o) => o.outcome === "ok" && o.completedAtMs === cutMs)
  return { key, ok: false, failingPrefix, explanation: explain(breakers, cutMs, failure.deepest) }
}

/**
 * The history as it looked at time cutMs: ops invoked by then, where an op not
 * yet complete is pending (a write may or may not take effect; a read says
 * nothing). This keeps prefixes of a linearizable history linearizable, which
 * the binary search relies on: a read complete by cutMs can only have read a
 * write invoked before it completed, and that write is in the prefix.
 * Checking the recorded ops of the prefix as they are is at least as strict.
 */
const observedBy = (ops: ReadonlyArray<Operation>, cutMs: number): Array<SearchOp> => {
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
    result.push({
      op,
      kind: op.kind,
      callAtMs: op.invokedAtMs,
      returnAtMs: complete ? op.completedAtMs! : Infinity,
      required: complete,
      valueCode: op.kind === "delete" ? ABSENT : code(op.value)
    })
  }
  // An optional write whose resulting state no read ever sees cannot explain
  // anything, so dropping it keeps the verdict and shrinks the search.
  const seen = new Set(result.filter((o) => o.kind === "get").map((o) => o.valueCode))
  return result.filter((o) => o.required || seen.has(o.valueCode))
}

const describeOp = (op: Operation): string => {
  const what = op.kind === "set"
    ? `set(${JSON.stringify(op.value)})`
    : op.kind === "delete"
    ? "delete"
    : op.outcome === "ok"
    ? `get -> ${op.value === undefined ? "NOT_FOUND" : JSON.stringify(op.value)}`
    : "get"
  return `#${op.id} client ${op.client} ${what} [${op.invokedAtMs}..${op.completedAtMs ?? "?"} ms, ${op.outcome}]`
}

const explain = (breakers: ReadonlyArray<Operation>, cutMs: number, deepest: Deepest): string => {
  const state = deepest.state === undefined ? "absent" : JSON.stringify(deepest.state)
  const blocked = deepest.blockedBy === undefined
    ? ""
    : `; there ${describeOp(deepest.blockedBy)} could not be linearized`
  return `not linearizable once ${breakers.map(describeOp).join(", ")} completed at ${cutMs} ms. ` +
    `Deepest point reached: ${deepest.linearized} of ${deepest.required} completed ops linearized, ` +
    `register ${state}${blocked}`
}

// ---------------------------------------------------------------------------
// The search

const ABSENT = 0

/** An op as the search sees it; values are interned so the register state is a small integer. */
interface SearchOp {
  readonly op: Operation
  readonly kind: OpKind
  readonly callAtMs: number
  /** Infinity for a pending write: it may take effect at any later point. */
  readonly returnAtMs: number
  /** Pending writes need not be linearized; linearizing one last is the same as never. */
  readonly required: boolean
  /** get: the state read; set: the state written; delete: ABSENT. */
  readonly valueCode: number
}

interface Deepest {
  readonly linearized: number
  readonly required: number
  readonly state: string | undefined
  readonly blockedBy: Operation | undefined
}

type SearchResult =
  | { readonly _tag: "Linearizable"; readonly states: number }
  | { readonly _tag: "NotLinearizable"; readonly states: number; readonly deepest: Deepest }
  | { readonly _tag: "GaveUp"; readonly states: number }

interface Frame {
  readonly op: number
  /** Linearized as a read that matched: if the rest fails, so does the state before it. */
  readonly forced: boolean
  readonly prevState: number
  readonly prevFrontier: number
  readonly prevExtras: ReadonlyArray<number>
}

const search = (ops: ReadonlyArray<SearchOp>, maxStates: number): SearchResult => {
  const n = ops.length
  const requiredTotal = ops.reduce((sum, o) => sum + (o.required ? 1 : 0), 0)
  let requiredLeft = requiredTotal
  if (requiredLeft === 0) return { _tag: "Linearizable", states: 0 }

  // Events in time order; at equal times calls first, since ops that touch
  // at one instant are concurrent (only "completed before invoked" orders them).
  const events: Array<{ timeMs: number; isCall: boolean; op: number }> = []
  ops.forEach((o, i) => {
    events.push({ timeMs: o.callAtMs, isCall: true, op: i })
    if (o.returnAtMs !== Infinity) events.push({ timeMs: o.returnAtMs, isCall: false, op: i })
  })
  events.sort((a, b) => a.timeMs - b.timeMs || Number(b.isCall) - Number(a.isCall) || a.op - b.op)
  // Doubly linked list over entries 1..E, head sentinel 0, tail sentinel E + 1.
  const entries = events.length
  const head = 0
  const next = new Int32Array(entries + 2)
  const prev = new Int32Array(entries + 2)
  const entryOp = new Int32Array(entries + 2).fill(-1)
  const entryIsCall = new Uint8Array(entries + 2)
  const callEntry = new Int32Array(n)
  const returnEntry = new Int32Array(n).fill(-1)
  for (let e = 0; e < entries + 2; e++) {
    next[e] = e + 1
    prev[e] = e - 1
  }
  events.forEach((ev, i) => {
    const e = i + 1
    entryOp[e] = ev.op
    entryIsCall[e] = ev.isCall ? 1 : 0
    if (ev.isCall) callEntry[ev.op] = e
    else returnEntry[ev.op] = e
  })
  const unlink = (e: number) => {
    next[prev[e]!] = next[e]!
    prev[next[e]!] = prev[e]!
  }
  const relink = (e: number) => {
    next[prev[e]!] = e
    prev[next[e]!] = e
  }
  const lift = (x: number) => {
    unlink(callEntry[x]!)
    if (returnEntry[x]! >= 0) unlink(returnEntry[x]!)
  }
  const unlift = (x: number) => {
    if (returnEntry[x]! >= 0) relink(returnEntry[x]!)
    relink(callEntry[x]!)
  }

  // Memo key for the linearized set, compact instead of an n-bit bitset: every
  // op returning before the earliest unlinearized return is linearized, so the
  // set is that frontier (a rank in return order) plus the few linearized ops
  // beyond it (ones still running there, and pending writes).
  const byReturn = ops.map((_, i) => i).sort((a, b) =>
    ops[a]!.returnAtMs - ops[b]!.returnAtMs || ops[a]!.callAtMs - ops[b]!.callAtMs || a - b
  )
  const rankOf = new Int32Array(n)
  byReturn.forEach((op, rank) => {
    rankOf[op] = rank
  })
  const linearized = new Uint8Array(n)
  let frontier = 0
  let extras: ReadonlyArray<number> = [] // sorted ranks > frontier
  let state = ABSENT
  const seen = new Set<string>()
  const stack: Array<Frame> = []
  let gaveUp = false

  /** Linearizes op x now unless that state was explored before; the caller checks x is allowed. */
  const tryPush = (x: number, forced: boolean): boolean => {
    const o = ops[x]!
    const nextState = o.kind === "get" ? state : o.valueCode
    const rank = rankOf[x]!
    let nextFrontier = frontier
    let nextExtras = extras
    if (rank === frontier) {
      nextFrontier++
      while (nextFrontier < n && linearized[byReturn[nextFrontier]!] === 1) nextFrontier++
      let drop = 0
      while (drop < extras.length && extras[drop]! < nextFrontier) drop++
      if (drop > 0) nextExtras = extras.slice(drop)
    } else {
      let at = extras.length
      while (at > 0 && extras[at - 1]! > rank) at--
      nextExtras = [...extras.slice(0, at), rank, ...extras.slice(at)]
    }
    const key = `${nextState}:${nextFrontier}:${nextExtras.join(",")}`
    if (seen.has(key)) return false
    if (seen.size >= maxStates) {
      gaveUp = true
      return false
    }
    seen.add(key)
    stack.push({ op: x, forced, prevState: state, prevFrontier: frontier, prevExtras: extras })
    linearized[x] = 1
    if (o.required) requiredLeft--
    state = nextState
    frontier = nextFrontier
    extras = nextExtras
    lift(x)
    return true
  }

  let entry: number = head
  /** Undoes linearizations until one leaves an alternative to try; false when none is left. */
  const backtrack = (): boolean => {
    for (;;) {
      const frame = stack.pop()
      if (frame === undefined) return false
      const x = frame.op
      linearized[x] = 0
      if (ops[x]!.required) requiredLeft++
      state = frame.prevState
      frontier = frame.prevFrontier
      extras = frame.prevExtras
      unlift(x)
      if (!frame.forced) {
        entry = next[callEntry[x]!]!
        return true
      }
    }
  }

  let deepest: Deepest | undefined
  const decode = new Map<number, string>()
  for (const o of ops) if (o.valueCode !== ABSENT && o.op.value !== undefined) decode.set(o.valueCode, o.op.value)
  const noteDeadEnd = (e: number) => {
    const linearizedRequired = requiredTotal - requiredLeft
    if (deepest !== undefined && deepest.linearized >= linearizedRequired) return
    const blocked = entryOp[e]!
    deepest = {
      linearized: linearizedRequired,
      required: requiredTotal,
      state: decode.get(state),
      blockedBy: blocked >= 0 ? ops[blocked]!.op : undefined
    }
  }
  const stopped = (): SearchResult =>
    gaveUp
      ? { _tag: "GaveUp", states: seen.size }
      : {
        _tag: "NotLinearizable",
        states: seen.size,
        deepest: deepest ?? { linearized: 0, required: requiredTotal, state: undefined, blockedBy: undefined }
      }

  /**
   * Whether a read of this state may go next. A pending write only matters if
   * a read sees it, and it can always be put off until just before the first
   * such read (it has no deadline), so it is only worth trying then. Without
   * this, every pending write is tried at every step and the search blows up.
   */
  const readNow = (valueCode: number): boolean => {
    for (let e = next[head]!; entryIsCall[e] === 1; e = next[e]!) {
      const o = ops[entryOp[e]!]!
      if (o.kind === "get" && o.valueCode === valueCode) return true
    }
    return false
  }

  /**
   * Pending deletes all write the same thing and have no deadline, so one
   * invoked earlier can stand in for any later one: use them in invocation
   * order, and the search only sees how many were used, not which.
   */
  const earlierPendingDelete = new Int32Array(n).fill(-1)
  let lastPendingDelete = -1
  for (let e = 1; e <= entries; e++) {
    const x = entryOp[e]!
    if (entryIsCall[e] === 1 && !ops[x]!.required && ops[x]!.kind === "delete") {
      earlierPendingDelete[x] = lastPendingDelete
      lastPendingDelete = x
    }
  }
  const deleteInTurn = (x: number): boolean => {
    const earlier = earlierPendingDelete[x]!
    return earlier < 0 || linearized[earlier] === 1
  }

  let fresh = true
  for (;;) {
    if (fresh) {
      fresh = false
      // A read that matches the state and may go next can always go first: any
      // linearization from here can be rearranged to start with it. So take it
      // without leaving a choice point.
      let read = -1
      for (let e = next[head]!; entryIsCall[e] === 1; e = next[e]!) {
        const x = entryOp[e]!
        if (ops[x]!.kind === "get" && ops[x]!.valueCode === state) {
          read = x
          break
        }
      }
      if (read >= 0) {
        if (tryPush(read, true)) {
          if (requiredLeft === 0) return { _tag: "Linearizable", states: seen.size }
          fresh = true
        } else if (gaveUp || !backtrack()) {
          return stopped()
        }
        continue
      }
      entry = next[head]!
    }
    if (entryIsCall[entry] !== 1) {
      // The earliest pending return (or the end): nothing more can go before it.
      noteDeadEnd(entry)
      if (!backtrack()) return stopped()
      continue
    }
    const x = entryOp[entry]!
    // Reads that do not match the state cannot go here; matching ones were taken above.
    if (ops[x]!.kind !== "get" && (ops[x]!.required || (readNow(ops[x]!.valueCode) && deleteInTurn(x)))) {
      if (tryPush(x, false)) {
        if (requiredLeft === 0) return { _tag: "Linearizable", states: seen.size }
        fresh = true
        continue
      }
      if (gaveUp) return stopped()
    }
    entry = next[entry]!
  }
}
