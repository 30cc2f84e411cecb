import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import { type MemberStatus, MemberTable, type MemberUpdate } from "../../src/membership/swim.js"

const SELF = "self:7000"
const M = "m:7000"

/** "suspect@5" -> a rumor about `address`. */
const at = (spec: string, address = M): MemberUpdate => {
  const [status, incarnation] = spec.split("@")
  return { address, incarnation: Number(incarnation), status: status as MemberStatus }
}
const view = (table: MemberTable, address = M) => {
  const record = table.get(address)
  return record === undefined ? undefined : `${record.status}@${record.incarnation}`
}

/** [what the table holds about M, incoming rumor, what it holds after, whether it changed] */
const precedence: ReadonlyArray<readonly [string, string, string, boolean]> = [
  // Unknown member: anything is recorded, dead and left included.
  ["unknown", "alive@3", "alive@3", true],
  ["unknown", "suspect@3", "suspect@3", true],
  ["unknown", "dead@3", "dead@3", true],
  ["unknown", "left@3", "left@3", true],
  // alive: only a higher incarnation, which also revives dead and left members.
  ["alive@5", "alive@4", "alive@5", false],
  ["alive@5", "alive@5", "alive@5", false],
  ["alive@5", "alive@6", "alive@6", true],
  ["suspect@5", "alive@4", "suspect@5", false],
  ["suspect@5", "alive@5", "suspect@5", false],
  ["suspect@5", "alive@6", "alive@6", true],
  ["dead@5", "alive@4", "dead@5", false],
  ["dead@5", "alive@5", "dead@5", false],
  ["dead@5", "alive@6", "alive@6", true],
  ["left@5", "alive@5", "left@5", false],
  ["left@5", "alive@6", "alive@6", true],
  // suspect: over alive at the same incarnation or above; over anything else only above.
  ["alive@5", "suspect@4", "alive@5", false],
  ["alive@5", "suspect@5", "suspect@5", true],
  ["alive@5", "suspect@6", "suspect@6", true],
  ["suspect@5", "suspect@4", "suspect@5", false],
  ["suspect@5", "suspect@5", "suspect@5", false],
  ["suspect@5", "suspect@6", "suspect@6", true],
  ["dead@5", "suspect@4", "dead@5", false],
  ["dead@5", "suspect@5", "dead@5", false],
  ["dead@5", "suspect@6", "suspect@6", true],
  ["left@5", "suspect@5", "left@5", false],
  ["left@5", "suspect@6", "suspect@6", true],
  // dead: over alive or suspect at the same incarnation or above; over dead or left only above.
  ["alive@5", "dead@4", "alive@5", false],
  ["alive@5", "dead@5", "dead@5", true],
  ["alive@5", "dead@6", "dead@6", true],
  ["suspect@5", "dead@4", "suspect@5", false],
  ["suspect@5", "dead@5", "dead@5", true],
  ["suspect@5", "dead@6", "dead@6", true],
  ["dead@5", "dead@4", "dead@5", false],
  ["dead@5", "dead@5", "dead@5", false],
  ["dead@5", "dead@6", "dead@6", true],
  ["left@5", "dead@5", "left@5", false],
  ["left@5", "dead@6", "dead@6", true],
  // left: at the same incarnation or above, unless already left at that incarnation.
  ["alive@5", "left@4", "alive@5", false],
  ["alive@5", "left@5", "left@5", true],
  ["suspect@5", "left@5", "left@5", true],
  ["dead@5", "left@4", "dead@5", false],
  ["dead@5", "left@5", "left@5", true],
  ["left@5", "left@4", "left@5", false],
  ["left@5", "left@5", "left@5", false],
  ["left@5", "left@6", "left@6", true]
]

/** [incoming rumor about self while self is alive@2, self's view after, whether it is refuted] */
const aboutSelf: ReadonlyArray<readonly [string, string, boolean]> = [
  ["suspect@1", "alive@2", false],
  ["suspect@2", "alive@3", true],
  ["suspect@7", "alive@8", true],
  ["dead@1", "alive@2", false],
  ["dead@2", "alive@3", true],
  ["left@1", "alive@2", false],
  ["left@2", "alive@3", true],
  ["alive@1", "alive@2", false],
  ["alive@2", "alive@2", false],
  ["alive@4", "alive@5", true]
]

describe("MemberTable", () => {
  it("starts with self alive at incarnation 0", () => {
    const table = new MemberTable(SELF, 42)
    expect(table.selfIncarnation).toBe(0)
    expect(table.members()).toEqual([{ address: SELF, incarnation: 0, status: "alive", changedAtMs: 42 }])
    expect(table.probeable()).toEqual([])
  })

  describe("precedence of rumors about another member", () => {
    it.each(precedence)("%s + %s -> %s (changed: %s)", (current, incoming, expected, changed) => {
      const table = new MemberTable(SELF, 0)
      if (current !== "unknown") table.apply(at(current), 1)
      const before = table.get(M)
      const result = table.apply(at(incoming), 10)
      expect(view(table)).toBe(expected)
      if (changed) {
        expect(result).toEqual(at(incoming))
        expect(table.get(M)?.changedAtMs).toBe(10)
      } else {
        expect(result).toBeUndefined()
        expect(table.get(M)).toEqual(before)
      }
    })

    it("returns a plain update, not the stored record", () => {
      const table = new MemberTable(SELF, 0)
      expect(table.apply(at("alive@1"), 5)).toStrictEqual({ address: M, incarnation: 1, status: "alive" })
    })

    it("ignores rumors with an incarnation that is not a safe non-negative integer", () => {
      const table = new MemberTable(SELF, 0)
      for (const incarnation of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, Number.MAX_SAFE_INTEGER]) {
        expect(table.apply({ address: M, incarnation, status: "alive" }, 1)).toBeUndefined()
        expect(table.apply({ address: SELF, incarnation, status: "suspect" }, 1)).toBeUndefined()
      }
      expect(table.apply({ address: M, incarnation: 1, status: "zombie" as MemberStatus }, 1)).toBeUndefined()
      expect(table.get(M)).toBeUndefined()
      expect(table.selfIncarnation).toBe(0)
    })
  })

  describe("rumors about self", () => {
    it.each(aboutSelf)("%s -> self %s (refuted: %s)", (incoming, expected, refuted) => {
      const table = new MemberTable(SELF, 0)
      table.apply(at("suspect@1", SELF), 1) // self is now alive@2
      expect(view(table, SELF)).toBe("alive@2")
      const result = table.apply(at(incoming, SELF), 10)
      expect(view(table, SELF)).toBe(expected)
      expect(table.selfIncarnation).toBe(Number(expected.split("@")[1]))
      expect(result).toEqual(refuted ? at(expected, SELF) : undefined)
    })

    it("never suspects self locally", () => {
      const table = new MemberTable(SELF, 0)
      expect(table.suspect(SELF, 1)).toBeUndefined()
      expect(view(table, SELF)).toBe("alive@0")
    })
  })

  describe("leave", () => {
    it("announces left at the next incarnation, and is not refuted afterwards", () => {
      const table = new MemberTable(SELF, 0)
      table.apply(at("suspect@0", SELF), 1) // alive@1
      expect(table.leave(5)).toEqual(at("left@2", SELF))
      expect(table.get(SELF)).toEqual({ ...at("left@2", SELF), changedAtMs: 5 })
      for (const rumor of ["suspect@2", "dead@9", "alive@9", "left@9"]) {
        expect(table.apply(at(rumor, SELF), 6)).toBeUndefined()
      }
      expect(view(table, SELF)).toBe("left@2")
    })

    it("re-announces the same update when called again", () => {
      const table = new MemberTable(SELF, 0)
      expect(table.leave(1)).toEqual(at("left@1", SELF))
      expect(table.leave(2)).toEqual(at("left@1", SELF))
      expect(table.get(SELF)?.changedAtMs).toBe(1)
    })

    it("still tracks other members after leaving", () => {
      const table = new MemberTable(SELF, 0)
      table.leave(1)
      expect(table.apply(at("alive@1"), 2)).toEqual(at("alive@1"))
      expect(table.probeable()).toEqual([M])
    })
  })

  describe("local suspicion and expiry", () => {
    it("turns an alive member suspect at the same incarnation", () => {
      const table = new MemberTable(SELF, 0)
      table.apply(at("alive@3"), 0)
      expect(table.suspect(M, 100)).toEqual(at("suspect@3"))
      expect(table.get(M)?.changedAtMs).toBe(100)
    })

    it("leaves unknown, suspect, dead and left members alone", () => {
      const table = new MemberTable(SELF, 0)
      expect(table.suspect(M, 1)).toBeUndefined()
      for (const state of ["suspect@3", "dead@3", "left@3"]) {
        const other = new MemberTable(SELF, 0)
        other.apply(at(state), 1)
        expect(other.suspect(M, 50)).toBeUndefined()
        expect(other.get(M)).toEqual({ ...at(state), changedAtMs: 1 })
      }
    })

    it("declares a suspect dead once the timeout has passed since the suspicion started", () => {
      const table = new MemberTable(SELF, 0)
      table.apply(at("alive@1"), 0)
      table.suspect(M, 100)
      table.apply(at("suspect@1"), 130) // a confirmation is not a change: the clock keeps running from 100
      expect(table.expireSuspects(149, 50)).toEqual([])
      expect(view(table)).toBe("suspect@1")
      expect(table.expireSuspects(150, 50)).toEqual([at("dead@1")])
      expect(table.get(M)).toEqual({ ...at("dead@1"), changedAtMs: 150 })
      expect(table.expireSuspects(1000, 50)).toEqual([])
    })

    it("restarts the clock for a suspicion at a higher incarnation", () => {
      const table = new MemberTable(SELF, 0)
      table.apply(at("suspect@1"), 100)
      table.apply(at("suspect@2"), 140)
      expect(table.expireSuspects(150, 50)).toEqual([])
      expect(table.expireSuspects(190, 50)).toEqual([at("dead@2")])
    })

    it("does not expire a member that refuted the suspicion", () => {
      const table = new MemberTable(SELF, 0)
      table.apply(at("alive@1"), 0)
      table.suspect(M, 100)
      expect(table.apply(at("alive@2"), 120)).toEqual(at("alive@2"))
      expect(table.expireSuspects(10_000, 50)).toEqual([])
    })

    it("expires several suspects at once, in address order", () => {
      const table = new MemberTable(SELF, 0)
      for (const address of ["c", "a", "b"]) table.apply(at("suspect@0", address), 0)
      table.apply(at("suspect@0", "d"), 60)
      expect(table.expireSuspects(100, 50)).toEqual([at("dead@0", "a"), at("dead@0", "b"), at("dead@0", "c")])
      expect(view(table, "d")).toBe("suspect@0")
    })
  })

  describe("listing", () => {
    it("lists members sorted by address and probes only alive or suspect others", () => {
      const table = new MemberTable("m", 0)
      table.apply(at("dead@0", "z"), 0)
      table.apply(at("alive@0", "b"), 0)
      table.apply(at("left@0", "c"), 0)
      table.apply(at("suspect@0", "a"), 0)
      expect(table.members().map((m) => m.address)).toEqual(["a", "b", "c", "m", "z"])
      expect(table.probeable()).toEqual(["a", "b"])
    })
  })

  describe("reap", () => {
    it("forgets dead and left members once they have been so for afterMs, never self or live ones", () => {
      const table = new MemberTable(SELF, 0)
      table.apply(at("dead@1", "a"), 100)
      table.apply(at("left@1", "b"), 120)
      table.apply(at("alive@1", "c"), 0)
      table.apply(at("suspect@1", "d"), 0)
      table.leave(0)
      expect(table.reap(199, 100)).toEqual([])
      expect(table.reap(200, 100)).toEqual(["a"])
      expect(table.reap(220, 100)).toEqual(["b"])
      expect(table.members().map((m) => m.address)).toEqual(["c", "d", SELF])
      expect(table.reap(1_000_000, 100)).toEqual([])
    })

    it("lets a forgotten member come back with a stale alive, which is why afterMs must outlast gossip", () => {
      const table = new MemberTable(SELF, 0)
      table.apply(at("dead@3"), 0)
      expect(table.apply(at("alive@2"), 1)).toBeUndefined()
      table.reap(100, 100)
      expect(table.apply(at("alive@2"), 101)).toEqual(at("alive@2"))
    })
  })

  describe("properties", () => {
    const RANK: Record<MemberStatus, number> = { alive: 0, suspect: 1, dead: 2, left: 3 }
    const address = fc.constantFrom(SELF, "a", "b", "c")
    const status = fc.constantFrom<MemberStatus>("alive", "suspect", "dead", "left")
    const rumor = fc.record({ address, incarnation: fc.integer({ min: 0, max: 6 }), status })
    const op = fc.oneof(
      fc.record({ op: fc.constant("apply" as const), rumor }),
      fc.record({ op: fc.constant("suspect" as const), address }),
      fc.record({ op: fc.constant("expire" as const), timeoutMs: fc.integer({ min: 0, max: 30 }) }),
      fc.record({ op: fc.constant("tick" as const), ms: fc.integer({ min: 0, max: 20 }) }),
      fc.record({ op: fc.constant("leave" as const) })
    )
    const snapshot = (table: MemberTable) => new Map(table.members().map((m) => [m.address, m]))

    it.prop(
      "never lowers a member's incarnation, nor a rumor's precedence, and returns what it stored",
      [fc.array(op, { maxLength: 100 })],
      ([ops]) => {
        const table = new MemberTable(SELF, 0)
        let nowMs = 0
        for (const o of ops) {
          const before = snapshot(table)
          switch (o.op) {
            case "apply": {
              const result = table.apply(o.rumor, nowMs)
              if (result === undefined) expect(snapshot(table)).toEqual(before)
              else expect(table.get(result.address)).toEqual({ ...result, changedAtMs: nowMs })
              break
            }
            case "suspect":
              table.suspect(o.address, nowMs)
              break
            case "expire":
              table.expireSuspects(nowMs, o.timeoutMs)
              break
            case "tick":
              nowMs += o.ms
              break
            case "leave":
              table.leave(nowMs)
              break
          }
          const after = snapshot(table)
          for (const [addr, was] of before) {
            const is = after.get(addr)!
            expect(is.incarnation).toBeGreaterThanOrEqual(was.incarnation)
            if (addr !== SELF && is.incarnation === was.incarnation) {
              expect(RANK[is.status]).toBeGreaterThanOrEqual(RANK[was.status])
            }
          }
        }
      }
    )

    const rumorsAndShuffle = fc
      .array(rumor, { maxLength: 40 })
      .chain((rumors) =>
        fc.tuple(fc.constant(rumors), fc.shuffledSubarray(rumors, { minLength: rumors.length, maxLength: rumors.length }))
      )

    it.prop(
      "ends with the same view of every other member whatever order the rumors arrive in: the highest incarnation, then the strongest status",
      [rumorsAndShuffle],
      ([[rumors, shuffled]]) => {
        const viewOf = (order: ReadonlyArray<MemberUpdate>) => {
          const table = new MemberTable(SELF, 0)
          order.forEach((r, i) => table.apply(r, i))
          return table.members().filter((m) => m.address !== SELF).map(({ changedAtMs: _, ...update }) => update)
        }
        const strongest = new Map<string, MemberUpdate>()
        for (const r of rumors) {
          if (r.address === SELF) continue
          const held = strongest.get(r.address)
          if (
            held === undefined ||
            r.incarnation > held.incarnation ||
            (r.incarnation === held.incarnation && RANK[r.status] > RANK[held.status])
          ) strongest.set(r.address, r)
        }
        const expected = [...strongest.values()].sort((a, b) => a.address.localeCompare(b.address))
        expect(viewOf(rumors)).toEqual(expected)
        expect(viewOf(shuffled)).toEqual(expected)
      }
    )

    // Self's incarnation is not order-independent: suspect@0 then alive@1 ends at 2, the reverse at 1
    // (alive@1 is then our own claim). What does hold is that self stays alive just above every
    // rumor that would beat it, and never climbs higher than needed.
    it.prop(
      "keeps self alive above every suspect, dead or left rumor about it and at or above every alive one",
      [fc.array(rumor, { maxLength: 40 })],
      ([rumors]) => {
        const table = new MemberTable(SELF, 0)
        rumors.forEach((r, i) => table.apply(r, i))
        const aboutSelf = rumors.filter((r) => r.address === SELF)
        expect(table.get(SELF)?.status).toBe("alive")
        for (const r of aboutSelf) {
          if (r.status === "alive") expect(table.selfIncarnation).toBeGreaterThanOrEqual(r.incarnation)
          else expect(table.selfIncarnation).toBeGreaterThan(r.incarnation)
        }
        expect(table.selfIncarnation).toBeLessThanOrEqual(Math.max(-1, ...aboutSelf.map((r) => r.incarnation)) + 1)
      }
    )
  })
})
