/**
 * The per-key search of the checker: Wing & Gong with Lowe's memoisation
 * (as in Porcupine), plus pruning rules that cannot change the verdict.
 */
import type { Operation, OpKind } from "./history.js"
import { insertSorted, TupleSet } from "./tupleSet.js"

export const ABSENT = 0
/** Stands for every state that no remaining read can return: they all have the same future. */
const DEAD = -1

/** An op as the search sees it; values are interned so the register state is a small integer. */
export interface SearchOp {
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

export type SearchResult =
  | { readonly _tag: "Linearizable"; readonly states: number }
  | {
    readonly _tag: "NotLinearizable"
    readonly states: number
    /** The required op that could not be linearized at the deepest point reached. */
    readonly blockedBy: Operation | undefined
    readonly reason: string
  }
  | { readonly _tag: "GaveUp"; readonly states: number }

interface Frame {
  readonly op: number
  /** Linearized without a choice point: if the rest fails, so does the state before it. */
  readonly forced: boolean
  readonly state: number
  readonly frontier: number
  readonly extras: ReadonlyArray<number>
  readonly deletesUsed: number
}

export const search = (ops: ReadonlyArray<SearchOp>, maxStates: number): SearchResult => {
  const n = ops.length
  let requiredLeft = 0
  let valueCount = 1
  for (const o of ops) {
    if (o.required) requiredLeft++
    valueCount = Math.max(valueCount, o.valueCode + 1)
  }
  const requiredTotal = requiredLeft
  if (requiredLeft === 0) return { _tag: "Linearizable", states: 0 }

  // A read of a value that no write invoked before the read completed could
  // produce fails whatever the order; say so instead of searching exhaustively.
  const firstWriteAtMs = new Float64Array(valueCount).fill(Infinity)
  firstWriteAtMs[ABSENT] = -Infinity // the initial state
  for (const o of ops) {
    if (o.kind === "set") firstWriteAtMs[o.valueCode] = Math.min(firstWriteAtMs[o.valueCode]!, o.callAtMs)
  }
  const impossible = ops.find((o) => o.kind === "get" && firstWriteAtMs[o.valueCode]! > o.returnAtMs)
  if (impossible !== undefined) {
    return {
      _tag: "NotLinearizable",
      states: 0,
      blockedBy: impossible.op,
      reason: `${describeOp(impossible.op)} returned a value that no set invoked before it completed wrote`
    }
  }
  /** Reads not yet linearized, per value. */
  const readsLeft = new Int32Array(valueCount)
  for (const o of ops) if (o.kind === "get") readsLeft[o.valueCode] = readsLeft[o.valueCode]! + 1

  // Events in time order; at equal times calls first, since ops that touch
  // at one instant are concurrent (only "completed before invoked" orders them).
  const events: Array<{ timeMs: number; isCall: boolean; op: number }> = []
  ops.forEach((o, i) => {
    events.push({ timeMs: o.callAtMs, isCall: true, op: i })
    if (o.returnAtMs !== Infinity) events.push({ timeMs: o.returnAtMs, isCall: false, op: i })
  })
  events.sort((a, b) => a.timeMs - b.timeMs || Number(b.isCall) - Number(a.isCall) || a.op - b.op)
  // Doubly linked list over entries 1..E, with sentinels 0 (head) and E + 1
  // (tail, which counts as "not a call" and so ends every scan).
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

  // The memo key is a short tuple rather than an n-bit set: every op returning
  // before the earliest unlinearized return (the frontier, a rank in return
  // order) is linearized, so the linearized set is the frontier plus the few
  // linearized ops beyond it ("extras": ops still running there, and pending
  // writes that a remaining read may still need).
  const byReturn = ops.map((_, i) => i).sort((a, b) =>
    ops[a]!.returnAtMs - ops[b]!.returnAtMs || ops[a]!.callAtMs - ops[b]!.callAtMs || a - b
  )
  const rankOf = new Int32Array(n)
  byReturn.forEach((op, rank) => {
    rankOf[op] = rank
  })
  // Pending deletes all write the same thing and have no deadline, so one
  // invoked earlier can stand in for any later one: use them in invocation
  // order, and only how many were used matters, not which.
  const earlierPendingDelete = new Int32Array(n).fill(-1)
  let lastPendingDelete = -1
  for (let e = 1; e <= entries; e++) {
    const x = entryOp[e]!
    if (entryIsCall[e] === 1 && !ops[x]!.required && ops[x]!.kind === "delete") {
      earlierPendingDelete[x] = lastPendingDelete
      lastPendingDelete = x
    }
  }

  const linearized = new Uint8Array(n)
  let state = ABSENT
  let frontier = 0
  let extras: ReadonlyArray<number> = [] // sorted ranks > frontier
  let deletesUsed = 0
  const stack: Array<Frame> = []
  const seen = new TupleSet()
  let tuple: Int32Array = new Int32Array(16)

  const apply = (x: number, forced: boolean): void => {
    stack.push({ op: x, forced, state, frontier, extras, deletesUsed })
    const o = ops[x]!
    linearized[x] = 1
    unlink(callEntry[x]!)
    if (returnEntry[x]! >= 0) unlink(returnEntry[x]!)
    if (o.kind === "get") {
      readsLeft[o.valueCode] = readsLeft[o.valueCode]! - 1
      if (readsLeft[o.valueCode] === 0) {
        // No read of this value is left, so whether its pending write was used no longer matters.
        extras = extras.filter((rank) => {
          const other = ops[byReturn[rank]!]!
          return other.required || other.valueCode !== o.valueCode
        })
      }
    } else {
      state = o.valueCode
    }
    if (o.required) {
      requiredLeft--
      const rank = rankOf[x]!
      if (rank === frontier) {
        frontier++
        while (frontier < n && linearized[byReturn[frontier]!] === 1) frontier++
        let drop = 0
        while (drop < extras.length && extras[drop]! < frontier) drop++
        if (drop > 0) extras = extras.slice(drop)
      } else {
        extras = insertSorted(extras, rank)
      }
    } else if (o.kind === "delete") {
      deletesUsed++
    } else {
      extras = insertSorted(extras, rankOf[x]!)
    }
  }

  const undo = (frame: Frame): void => {
    const x = frame.op
    const o = ops[x]!
    linearized[x] = 0
    if (returnEntry[x]! >= 0) relink(returnEntry[x]!)
    relink(callEntry[x]!)
    if (o.kind === "get") readsLeft[o.valueCode] = readsLeft[o.valueCode]! + 1
    if (o.required) requiredLeft++
    state = frame.state
    frontier = frame.frontier
    extras = frame.extras
    deletesUsed = frame.deletesUsed
  }

  /** Linearizes op x now, unless the resulting state was seen before; the caller checks x is allowed. */
  let gaveUp = false
  const tryPush = (x: number, forced: boolean): boolean => {
    if (seen.size >= maxStates) {
      gaveUp = true
      return false
    }
    apply(x, forced)
    if (tuple.length < extras.length + 3) tuple = new Int32Array(2 * (extras.length + 3))
    tuple[0] = readsLeft[state]! > 0 ? state : DEAD
    tuple[1] = frontier
    tuple[2] = readsLeft[ABSENT]! > 0 ? deletesUsed : 0
    for (let i = 0; i < extras.length; i++) tuple[i + 3] = extras[i]!
    if (seen.add(tuple, extras.length + 3)) return true
    undo(stack.pop()!)
    return false
  }

  let entry: number = head
  /** Undoes linearizations until one leaves an alternative to try; false when none is left. */
  const backtrack = (): boolean => {
    for (;;) {
      const frame = stack.pop()
      if (frame === undefined) return false
      undo(frame)
      if (!frame.forced) {
        entry = next[callEntry[frame.op]!]!
        return true
      }
    }
  }

  /**
   * Whether a read of this value may go next. A pending write only matters if
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
  const mayTry = (x: number): boolean => {
    const o = ops[x]!
    if (o.kind === "get") return false // only matching reads can go, and those were taken already
    if (o.required) return true
    const earlier = earlierPendingDelete[x]!
    return readNow(o.valueCode) && (earlier < 0 || linearized[earlier] === 1)
  }

  let deepest = -1
  let deepestState = ABSENT
  let blockedBy: Operation | undefined
  const noteDeadEnd = (e: number) => {
    const done = requiredTotal - requiredLeft
    if (done <= deepest) return
    deepest = done
    deepestState = state
    const blocked = entryOp[e]!
    blockedBy = blocked >= 0 ? ops[blocked]!.op : undefined
  }
  const stopped = (): SearchResult => {
    if (gaveUp) return { _tag: "GaveUp", states: seen.size }
    const writer = ops.find((o) => o.kind === "set" && o.valueCode === deepestState)
    const register = deepestState === ABSENT ? "absent" : `holding ${JSON.stringify(writer?.op.value)}`
    const reason = `Deepest point reached: ${deepest} of ${requiredTotal} completed ops linearized, register ${register}` +
      (blockedBy === undefined ? "" : `; there ${describeOp(blockedBy)} could not be linearized`)
    return { _tag: "NotLinearizable", states: seen.size, blockedBy, reason }
  }

  let fresh = true
  for (;;) {
    if (fresh) {
      fresh = false
      // Some ops that may go next can always go first: any linearization from
      // here can be rearranged to start with them. Take those without leaving
      // a choice point: a read that matches the state; and when no remaining
      // read can see the state, a write that no remaining read can see either
      // (whatever follows it is a write anyway).
      const deadState = readsLeft[state] === 0
      let forced = -1
      for (let e = next[head]!; entryIsCall[e] === 1; e = next[e]!) {
        const o = ops[entryOp[e]!]!
        if (o.kind === "get" ? o.valueCode === state : deadState && o.required && readsLeft[o.valueCode] === 0) {
          forced = entryOp[e]!
          break
        }
      }
      if (forced >= 0) {
        if (tryPush(forced, true)) {
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
    if (mayTry(x)) {
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

/** One operation as people read it in explanations. */
export const describeOp = (op: Operation): string => {
  const what = op.kind === "set"
    ? `set(${JSON.stringify(op.value)})`
    : op.kind === "delete"
    ? "delete"
    : op.outcome === "ok"
    ? `get -> ${op.value === undefined ? "NOT_FOUND" : JSON.stringify(op.value)}`
    : "get"
  return `#${op.id} client ${op.client} ${what} [${op.invokedAtMs}..${op.completedAtMs ?? "?"} ms, ${op.outcome}]`
}
