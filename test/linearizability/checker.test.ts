import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import { checkHistory, type KeyVerdict } from "../../testkit/linearizability/checker.js"
import { prng } from "../../testkit/random.js"
import type { Operation, OpKind, Outcome } from "../../testkit/linearizability/history.js"

type Draft = Omit<Operation, "id">
type Span = readonly [invokedAtMs: number, completedAtMs?: number]

/** Numbers the ops in the order written, so tests can point at them by index. */
const history = (...drafts: ReadonlyArray<Draft>): Array<Operation> => drafts.map((d, id) => ({ ...d, id }))
const draft = (client: number, kind: OpKind, value: string | undefined, [invokedAtMs, completedAtMs]: Span, outcome: Outcome, key: string): Draft => ({
  client,
  key,
  kind,
  value,
  invokedAtMs,
  completedAtMs: outcome === "unknown" ? undefined : completedAtMs ?? invokedAtMs + 1,
  outcome
})
const set = (client: number, value: string, span: Span, outcome: Outcome = "ok", key = "k") => draft(client, "set", value, span, outcome, key)
const get = (client: number, value: string | undefined, span: Span, outcome: Outcome = "ok", key = "k") => draft(client, "get", value, span, outcome, key)
const del = (client: number, span: Span, outcome: Outcome = "ok", key = "k") => draft(client, "delete", undefined, span, outcome, key)

const byInvocation = (a: Operation, b: Operation) => a.invokedAtMs - b.invokedAtMs || a.id - b.id
const keyVerdict = (ops: ReadonlyArray<Operation>, key = "k"): KeyVerdict => {
  const found = checkHistory(ops).keys.find((k) => k.key === key)
  if (found === undefined) throw new Error(`no verdict for ${key}`)
  return found
}

/** The checker's contract for a rejected key: a prefix by invocation, rejected on its own, holding the culprit. */
const expectRejected = (ops: ReadonlyArray<Operation>, culpritId: number, key = "k") => {
  const verdict = keyVerdict(ops, key)
  expect(verdict.ok).toBe(false)
  const prefix = verdict.failingPrefix ?? []
  const ofKey = ops.filter((o) => o.key === key).sort(byInvocation)
  expect(prefix).toEqual(ofKey.slice(0, prefix.length))
  expect(prefix.map((o) => o.id)).toContain(culpritId)
  expect(checkHistory(prefix).ok).toBe(false)
  expect(verdict.explanation).toContain(`#${culpritId}`)
  return prefix
}

/**
 * Obviously correct and exponential: try every order of the remaining ops
 * that real time allows (no events, no pruning; only a memo to stay usable).
 */
const bruteForce = (ops: ReadonlyArray<Operation>): boolean => {
  const live = ops.filter((o) => o.outcome === "ok" || (o.outcome === "unknown" && o.kind !== "get"))
  const doneAtMs = (o: Operation) => o.outcome === "ok" ? o.completedAtMs! : Infinity
  const failed = new Set<string>()
  const go = (rest: ReadonlyArray<Operation>, state: string | undefined): boolean => {
    if (rest.every((o) => o.outcome !== "ok")) return true
    const key = `${rest.map((o) => o.id).join(",")}|${state}`
    if (failed.has(key)) return false
    const found = rest.some((o) => {
      if (rest.some((r) => doneAtMs(r) < o.invokedAtMs)) return false
      if (o.kind === "get" && o.value !== state) return false
      const next = o.kind === "set" ? o.value : o.kind === "delete" ? undefined : state
      return go(rest.filter((r) => r !== o), next)
    })
    if (!found) failed.add(key)
    return found
  }
  return go(live, undefined)
}

// ---------------------------------------------------------------------------
// Simulated linearizable registers

type Fate = "ok" | "fail" | "unknown-applied" | "unknown-lost"
interface Step {
  readonly client: number
  readonly key: string
  readonly kind: OpKind
  readonly gapMs: number
  readonly durationMs: number
  /** Where in its interval the op takes effect, 0..1. */
  readonly at: number
  readonly fate: Fate
}

/**
 * Runs the steps as clients (one op at a time each) against a real register
 * that applies each op at a point inside its interval, so the result is
 * linearizable by construction. Unknown writes take effect anywhere after
 * their invocation, even after the client moved on, or not at all.
 */
const simulate = (steps: ReadonlyArray<Step>): Array<Operation> => {
  const freeAtMs = new Map<number, number>()
  const timed = steps.map((step, id) => {
    const invokedAtMs = (freeAtMs.get(step.client) ?? 0) + step.gapMs
    const completedAtMs = invokedAtMs + step.durationMs
    freeAtMs.set(step.client, completedAtMs)
    const effectAtMs = step.fate === "ok"
      ? invokedAtMs + step.at * step.durationMs
      : step.fate === "unknown-applied"
      ? invokedAtMs + step.at * (step.durationMs + 200)
      : undefined
    return { id, step, invokedAtMs, completedAtMs, effectAtMs }
  })
  const register = new Map<string, string>()
  const read = new Map<number, string | undefined>()
  const applied = timed.flatMap((t) => t.effectAtMs === undefined ? [] : [{ ...t, effectAtMs: t.effectAtMs }])
  applied.sort((a, b) => a.effectAtMs - b.effectAtMs || a.id - b.id)
  for (const { id, step } of applied) {
    if (step.kind === "set") register.set(step.key, `v${id}`)
    else if (step.kind === "delete") register.delete(step.key)
    else read.set(id, register.get(step.key))
  }
  return timed.map(({ completedAtMs, id, invokedAtMs, step }): Operation => {
    const outcome: Outcome = step.fate === "ok" ? "ok" : step.fate === "fail" ? "fail" : "unknown"
    return {
      id,
      client: step.client,
      key: step.key,
      kind: step.kind,
      value: step.kind === "set" ? `v${id}` : step.kind === "get" && outcome === "ok" ? read.get(id) : undefined,
      invokedAtMs,
      completedAtMs: outcome === "unknown" ? undefined : completedAtMs,
      outcome
    }
  })
}

const weighted = <A>(...choices: ReadonlyArray<readonly [A, number]>) =>
  fc.oneof(...choices.map(([value, weight]) => ({ arbitrary: fc.constant(value), weight })))
const kindArb = weighted<OpKind>(["get", 5], ["set", 4], ["delete", 1])
const fateArb = weighted<Fate>(["ok", 16], ["fail", 1], ["unknown-applied", 1], ["unknown-lost", 1])
const stepArb = (clients: number, keys: ReadonlyArray<string>) =>
  fc.record({
    client: fc.integer({ min: 0, max: clients - 1 }),
    key: fc.constantFrom(...keys),
    kind: kindArb,
    gapMs: fc.integer({ min: 0, max: 5 }),
    durationMs: fc.integer({ min: 0, max: 25 }),
    at: fc.double({ min: 0, max: 1, noNaN: true }),
    fate: fateArb
  })

describe("checkHistory", () => {
  describe("accepts", () => {
    it("sequential sets and gets", () => {
      const h = history(get(1, undefined, [0]), set(1, "a", [2]), get(2, "a", [4]), set(2, "b", [6]), get(1, "b", [8]))
      expect(checkHistory(h)).toEqual({ ok: true, keys: [{ key: "k", ok: true }], checkedOps: 5 })
    })

    it("a get concurrent with a set that sees the old value", () => {
      const h = history(set(1, "a", [0, 1]), set(1, "b", [10, 20]), get(2, "a", [12, 18]), get(2, "b", [21, 22]))
      expect(checkHistory(h).ok).toBe(true)
    })

    it("a get concurrent with a set that sees the new value, then the old is gone", () => {
      const h = history(set(1, "a", [0, 1]), set(1, "b", [10, 20]), get(2, "b", [11, 12]), get(3, "b", [13, 14]))
      expect(checkHistory(h).ok).toBe(true)
    })

    it("ops that touch at one instant are concurrent", () => {
      const h = history(set(1, "a", [0, 10]), get(2, undefined, [10, 12]))
      expect(checkHistory(h).ok).toBe(true)
    })

    it("a delete followed by NOT_FOUND", () => {
      const h = history(set(1, "a", [0]), del(1, [2]), get(2, undefined, [4]), set(2, "b", [6]), get(1, "b", [8]))
      expect(checkHistory(h).ok).toBe(true)
    })

    it("a get of a value whose set has an unknown outcome: the set took effect, even long after its timeout", () => {
      const h = history(set(1, "a", [0], "unknown"), get(2, undefined, [50]), get(2, "a", [100]), get(3, "a", [200]))
      expect(checkHistory(h)).toMatchObject({ ok: true, checkedOps: 4 })
    })

    it("gets that never see a set with an unknown outcome", () => {
      const h = history(set(1, "x", [0]), set(1, "a", [2], "unknown"), get(2, "x", [10]), get(3, "x", [500]))
      expect(checkHistory(h).ok).toBe(true)
    })

    it("deletes with an unknown outcome, each explaining a later NOT_FOUND", () => {
      const h = history(
        set(1, "a", [0]),
        del(2, [2], "unknown"),
        get(3, undefined, [10]),
        set(1, "b", [20]),
        del(2, [22], "unknown"),
        get(3, undefined, [30])
      )
      expect(checkHistory(h).ok).toBe(true)
    })

    it("keeps an unknown delete for a later NOT_FOUND when a completed delete explains the earlier one", () => {
      // The search may spend the unknown delete on the first NOT_FOUND, fail,
      // and must then still try the order that saves it.
      const h = history(
        set(1, "x", [0, 1]),
        set(1, "a", [2, 10]),
        del(2, [2], "unknown"),
        del(3, [2, 10]),
        get(4, undefined, [2, 10]),
        set(1, "b", [20, 21]),
        get(4, undefined, [30, 31])
      )
      expect(checkHistory(h).ok).toBe(true)
      expect(checkHistory(h.filter((o) => o.id !== 2)).ok).toBe(false)
    })

    it("ignores failed ops and gets with an unknown outcome", () => {
      const h = history(set(1, "a", [0]), set(2, "b", [2], "fail"), get(3, "zzz", [4], "unknown"), get(1, "a", [6]))
      expect(checkHistory(h)).toMatchObject({ ok: true, checkedOps: 2 })
    })

    it("reads on different keys interleaved, with a verdict per key", () => {
      const h = history(
        set(1, "a1", [0, 10], "ok", "a"),
        set(2, "b1", [1, 11], "ok", "b"),
        get(3, "b1", [2, 3], "ok", "b"),
        get(4, undefined, [4, 5], "ok", "a"),
        get(3, "a1", [6, 7], "ok", "a"),
        get(4, "b1", [12, 13], "ok", "b"),
        del(1, [14, 15], "ok", "a"),
        get(2, "b1", [16, 17], "ok", "b"),
        get(2, undefined, [18, 19], "ok", "a")
      )
      expect(checkHistory(h)).toEqual({ ok: true, keys: [{ key: "a", ok: true }, { key: "b", ok: true }], checkedOps: 9 })
    })

    it("an empty history", () => {
      expect(checkHistory([])).toEqual({ ok: true, keys: [], checkedOps: 0 })
    })
  })

  describe("rejects", () => {
    it("a stale read after a completed write", () => {
      const h = history(set(1, "a", [0, 1]), set(1, "b", [2, 3]), get(2, "a", [4, 5]), get(2, "b", [6, 7]), set(3, "c", [8, 9]))
      const prefix = expectRejected(h, 2)
      expect(prefix.map((o) => o.id)).toEqual([0, 1, 2])
      expect(keyVerdict(h).explanation).toContain("completed at 5 ms")
    })

    it("a lost write: NOT_FOUND after a completed set with no delete", () => {
      const h = history(get(1, undefined, [0]), set(1, "b", [2]), get(2, "b", [4]), get(3, undefined, [6]), get(1, "b", [8]))
      expect(expectRejected(h, 3).length).toBe(4)
    })

    it("a read of a value never written", () => {
      const h = history(set(1, "a", [0, 10]), get(2, "ghost", [1, 2]), set(3, "b", [3, 30]), get(1, "b", [40, 41]))
      expect(expectRejected(h, 1).map((o) => o.id)).toEqual([0, 1])
    })

    it("a read that sees an unknown write and then a later read of the older value", () => {
      const h = history(set(1, "old", [0]), set(1, "new", [2], "unknown"), get(2, "new", [10]), get(3, "old", [20]))
      expectRejected(h, 3)
    })

    it("a read that sees an unknown write and then NOT_FOUND with no delete", () => {
      const h = history(set(1, "a", [0], "unknown"), get(2, "a", [10]), get(3, undefined, [20]))
      expectRejected(h, 2)
    })

    it("a read of a failed write's value", () => {
      const h = history(set(1, "a", [0]), set(2, "b", [2, 4], "fail"), get(3, "b", [3, 6]), get(1, "a", [8]))
      expect(expectRejected(h, 2).map((o) => o.id)).toEqual([0, 1, 2])
    })

    it("only the broken key, and keeps checking the others", () => {
      const h = history(
        set(1, "a1", [0], "ok", "a"),
        set(1, "b1", [2], "ok", "b"),
        get(2, "zzz", [4], "ok", "b"),
        get(2, "a1", [6], "ok", "a")
      )
      const verdict = checkHistory(h)
      expect(verdict.ok).toBe(false)
      expect(verdict.keys.map((k) => [k.key, k.ok])).toEqual([["a", true], ["b", false]])
      expectRejected(h, 2, "b")
    })

    it("a culprit early in a long history with a short prefix", () => {
      const tail = Array.from({ length: 200 }, (_, i) => set(1 + (i % 3), `t${i}`, [100 + 10 * i, 105 + 10 * i]))
      const h = history(set(1, "a", [0, 1]), set(2, "b", [2, 3]), get(3, "a", [4, 5]), ...tail)
      expect(expectRejected(h, 2).length).toBe(3)
    })
  })

  it("reports timeout, not a verdict, when the search exceeds maxStates", () => {
    // Twelve concurrent writes, each seen by a concurrent read, then reads
    // going back to an older value: the search must try the writes' orders.
    const writes = Array.from({ length: 12 }, (_, i) => set(i, `w${i}`, [0, 100]))
    const reads = Array.from({ length: 12 }, (_, i) => get(20 + i, `w${i}`, [0, 100]))
    const h = history(...writes, ...reads, get(40, "w0", [200, 201]), get(40, "w1", [300, 301]), get(40, "w0", [400, 401]))
    const limited = checkHistory(h, { maxStates: 100 })
    expect(limited.ok).toBe(false)
    expect(limited.keys[0]).toMatchObject({ key: "k", ok: "timeout" })
    expect(limited.keys[0]?.failingPrefix).toBeUndefined()
    expect(checkHistory(h).keys[0]?.ok).toBe(false)
  })

  it("refuses malformed records instead of guessing", () => {
    expect(() => checkHistory([{ ...set(1, "a", [0]), id: 0, completedAtMs: undefined }])).toThrow(RangeError)
    expect(() => checkHistory([{ ...set(1, "a", [5, 4]), id: 0 }])).toThrow(RangeError)
  })

  describe("properties", () => {
    it.prop(
      "accepts sequential histories of a real register",
      [fc.array(fc.record({ key: fc.constantFrom("a", "b", "c"), kind: kindArb }), { maxLength: 200 })],
      ([commands]) => {
        const register = new Map<string, string>()
        const h = commands.map(({ key, kind }, id): Operation => {
          const base = { id, client: id % 4, key, kind, invokedAtMs: 2 * id, completedAtMs: 2 * id + 1, outcome: "ok" as const }
          if (kind === "set") register.set(key, `v${id}`)
          if (kind === "delete") register.delete(key)
          return { ...base, value: kind === "delete" ? undefined : register.get(key) }
        })
        expect(checkHistory(h).ok).toBe(true)
      }
    )

    it.prop(
      "accepts concurrent histories of a simulated linearizable register",
      [fc.array(stepArb(5, ["a", "b"]), { maxLength: 300 })],
      ([steps]) => {
        expect(checkHistory(simulate(steps)).ok).toBe(true)
      }
    )

    it.prop(
      "rejects such a history once one get returns a value never written, and points at it",
      [fc.array(stepArb(5, ["a"]), { minLength: 1, maxLength: 200 }), fc.nat()],
      ([steps, pick]) => {
        const h = simulate(steps)
        const gets = h.filter((o) => o.kind === "get" && o.outcome === "ok")
        fc.pre(gets.length > 0)
        const victim = gets[pick % gets.length]!
        const mutated = h.map((o) => o.id === victim.id ? { ...o, value: "never-written" } : o)
        expectRejected(mutated, victim.id, "a")
      }
    )

    it.prop(
      "agrees with brute force on small arbitrary histories",
      [
        fc.array(
          fc.record({
            client: fc.integer({ min: 0, max: 3 }),
            kind: kindArb,
            read: fc.integer({ min: -1, max: 6 }),
            invokedAtMs: fc.integer({ min: 0, max: 12 }),
            durationMs: fc.integer({ min: 0, max: 6 }),
            outcome: weighted<Outcome>(["ok", 6], ["fail", 1], ["unknown", 2])
          }),
          { maxLength: 7 }
        )
      ],
      ([drafts]) => {
        const h = drafts.map((d, id): Operation => ({
          id,
          client: d.client,
          key: "k",
          kind: d.kind,
          value: d.kind === "set" ? `v${id}` : d.kind === "get" && d.read >= 0 ? `v${d.read}` : undefined,
          invokedAtMs: d.invokedAtMs,
          completedAtMs: d.outcome === "unknown" ? undefined : d.invokedAtMs + d.durationMs,
          outcome: d.outcome
        }))
        const expected = bruteForce(h)
        const verdict = checkHistory(h)
        expect(verdict.ok).toBe(expected)
        if (!expected) {
          const prefix = verdict.keys[0]?.failingPrefix ?? []
          expect(prefix).toEqual([...h].sort(byInvocation).slice(0, prefix.length))
          expect(bruteForce(prefix)).toBe(false)
        }
      },
      { fastCheck: { numRuns: 1000 } }
    )

    it.prop(
      "agrees with brute force on small simulated histories, some with one op tampered with",
      [
        fc.array(stepArb(3, ["k"]), { maxLength: 10 }),
        fc.option(fc.record({ pick: fc.nat(), read: fc.integer({ min: -1, max: 10 }), durationMs: fc.integer({ min: 0, max: 3 }) }))
      ],
      ([steps, tamper]) => {
        const h = simulate(steps)
        const victim = tamper === null || h.length === 0 ? undefined : h[tamper.pick % h.length]
        const tampered = h.map((o): Operation => {
          if (o !== victim || tamper === null) return o
          if (o.kind === "get") return { ...o, value: tamper.read < 0 ? undefined : `v${tamper.read}` }
          if (o.outcome === "ok") return { ...o, completedAtMs: o.invokedAtMs + tamper.durationMs } // completes earlier than it did
          return { ...o, outcome: "ok", completedAtMs: o.invokedAtMs + tamper.durationMs } // claims success it may not have had
        })
        const expected = bruteForce(tampered)
        const verdict = checkHistory(tampered)
        expect(verdict.ok).toBe(expected)
        if (!expected) expect(bruteForce(verdict.keys[0]?.failingPrefix ?? [])).toBe(false)
      },
      { fastCheck: { numRuns: 1000 } }
    )
  })

  /** A linearizable 2,000-op history: 10 clients, one key, a few fails and unknown outcomes. */
  const bigHistory = () => {
    const random = prng(42) // a fixed seed: the 2,000-op tests always check the same history
    const pick = <A>(weights: ReadonlyArray<readonly [A, number]>): A => {
      let r = random() * weights.reduce((sum, [, w]) => sum + w, 0)
      for (const [value, w] of weights) if ((r -= w) < 0) return value
      return weights[0]![0]
    }
    const steps: Array<Step> = Array.from({ length: 2000 }, () => ({
      client: Math.floor(random() * 10),
      key: "k",
      kind: pick<OpKind>([["get", 5], ["set", 4], ["delete", 1]]),
      gapMs: Math.floor(random() * 3),
      durationMs: Math.floor(random() * 30),
      at: random(),
      fate: pick<Fate>([["ok", 40], ["fail", 1], ["unknown-applied", 1], ["unknown-lost", 1]])
    }))
    return simulate(steps)
  }

  it("checks 2,000 ops from 10 clients on one key well within 2 s", () => {
    const h = bigHistory()
    const startedMs = performance.now()
    const verdict = checkHistory(h)
    const elapsedMs = performance.now() - startedMs
    expect(verdict.ok).toBe(true)
    expect(verdict.checkedOps).toBeGreaterThan(1900)
    expect(elapsedMs).toBeLessThan(2000)
  })

  it("finds a stale read in the middle of 2,000 ops, with a prefix ending just after it", () => {
    const h = bigHistory()
    // A read in the middle returns the first value written, which a later
    // write had overwritten before the read was even invoked.
    const ok = h.filter((o) => o.outcome === "ok").sort(byInvocation)
    const stale = ok.find((o) => o.kind === "set")!
    const overwriter = ok.find((o) => o.kind !== "get" && o.invokedAtMs > stale.completedAtMs!)!
    const victim = ok.slice(1000).find((o) => o.kind === "get" && o.invokedAtMs > overwriter.completedAtMs!)!
    const tampered = h.map((o) => o.id === victim.id ? { ...o, value: stale.value } : o)
    const startedMs = performance.now()
    const prefix = expectRejected(tampered, victim.id)
    expect(performance.now() - startedMs).toBeLessThan(10_000)
    const victimIndex = [...tampered].sort(byInvocation).findIndex((o) => o.id === victim.id)
    expect(prefix.length).toBeLessThan(victimIndex + 30)
  })
})

describe("checkHistory with keys that may vanish (a cache's eviction and expiry)", () => {
  const vanishing = (ops: ReadonlyArray<Operation>) => checkHistory(ops, { mayVanish: true }).ok

  it("accepts a key found missing although nobody deleted it, which a register would not", () => {
    const ops = history(set(0, "a", [0, 1]), get(1, undefined, [2, 3]))
    expect(checkHistory(ops).ok).toBe(false)
    expect(vanishing(ops)).toBe(true)
  })

  it("rejects an older value coming back once the key was found missing", () => {
    expect(vanishing(history(set(0, "a", [0, 1]), get(1, undefined, [2, 3]), get(0, "a", [4, 5])))).toBe(false)
    expect(vanishing(history(set(0, "a", [0, 1]), set(0, "b", [2, 3]), get(1, undefined, [4, 5]), get(1, "a", [6, 7])))).toBe(false)
  })

  it("rejects a stale read and a resurrected deletion as a register would", () => {
    expect(vanishing(history(set(0, "a", [0, 1]), set(0, "b", [2, 3]), get(1, "a", [4, 5])))).toBe(false)
    expect(vanishing(history(set(0, "a", [0, 1]), del(0, [2, 3]), get(1, "a", [4, 5])))).toBe(false)
  })

  it("accepts a new value after the key vanished, and a read concurrent with the vanishing either way", () => {
    expect(vanishing(history(set(0, "a", [0, 1]), get(1, undefined, [2, 3]), set(0, "b", [4, 5]), get(1, "b", [6, 7])))).toBe(true)
    expect(vanishing(history(set(0, "a", [0, 1]), get(1, undefined, [2, 10]), get(2, "a", [3, 4])))).toBe(true)
  })
})
