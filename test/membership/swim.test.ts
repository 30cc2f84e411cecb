import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import { MAX_INCARNATION, MemberTable } from "../../src/membership/swim.js"
import type { MemberStatus, MemberUpdate } from "../../src/protocol/membership.js"

const SELF = "self:7000"
const M = "m:7000"
const OTHER = "o:7000"

/** "suspect@5" -> a rumor about `address`. */
const at = (spec: string, address = M): MemberUpdate => {
  const [status, incarnation] = spec.split("@")
  return { address, incarnation: Number(incarnation), status: status as MemberStatus }
}
const view = (table: MemberTable, address = M) => {
  const record = table.get(address)
  return record === undefined ? undefined : `${record.status}@${record.incarnation}`
}
/** A table tracking M and OTHER (generation 1 each), M brought to `state` first-hand or by its own probes. */
const tracking = (state = "alive@0") => {
  const table = new MemberTable(SELF, 0)
  table.track([{ address: M, generation: 1 }, { address: OTHER, generation: 1 }], 0)
  const [status, incarnation] = state.split("@")
  if (Number(incarnation) > 0) table.apply(at(`alive@${incarnation}`), M, 0)
  if (status === "suspect") table.suspect(M, 0)
  if (status === "dead") {
    table.suspect(M, 0)
    table.expireSuspects(0, 0)
  }
  if (status === "left") table.apply(at(`left@${incarnation}`), M, 0)
  return table
}

/** [what the table holds about M, rumor, who says it, what it holds after, whether M is to be probed now] */
const trust: ReadonlyArray<readonly [string, string, "self" | "other", string, boolean]> = [
  // The member speaks for itself: alive above its incarnation, or leaving.
  ["alive@2", "alive@3", "self", "alive@3", false],
  ["alive@2", "alive@2", "self", "alive@2", false],
  ["suspect@2", "alive@3", "self", "alive@3", false],
  ["dead@2", "alive@3", "self", "alive@3", false],
  ["alive@2", "left@2", "self", "left@2", false],
  ["alive@2", "suspect@9", "self", "alive@2", false],
  ["alive@2", "dead@9", "self", "alive@2", false],
  // A third party cannot make it alive, however high the incarnation.
  ["suspect@2", "alive@9", "other", "suspect@2", false],
  ["dead@2", "alive@9", "other", "dead@2", false],
  // A third party's suspect, dead or left is a suspicion, checked by a probe of our own.
  ["alive@2", "suspect@2", "other", "suspect@2", true],
  ["alive@2", "dead@2", "other", "suspect@2", true],
  ["alive@2", "left@4294967295", "other", "suspect@2", true],
  ["alive@2", "dead@0", "other", "suspect@2", true],
  // Already suspected or worse: nothing more to do.
  ["suspect@2", "dead@9", "other", "suspect@2", false],
  ["dead@2", "left@9", "other", "dead@2", false]
]

describe("MemberTable", () => {
  it("starts with self alive, and tracks exactly the members it is given", () => {
    const table = new MemberTable(SELF, 42)
    expect(table.members()).toEqual([{ address: SELF, incarnation: 0, status: "alive", generation: 0, changedAtMs: 42 }])
    table.track([{ address: M, generation: 7 }, { address: SELF, generation: 3 }], 50)
    expect(table.probeable()).toEqual([M])
    expect(table.get(M)).toEqual({ address: M, incarnation: 0, status: "alive", generation: 7, changedAtMs: 50 })
    table.track([{ address: OTHER, generation: 1 }], 60)
    expect(table.members().map((m) => m.address)).toEqual([OTHER, SELF])
  })

  it("starts afresh when the ring names a new generation at an address", () => {
    const table = tracking("dead@3")
    table.track([{ address: M, generation: 2 }], 9)
    expect(table.get(M)).toMatchObject({ status: "alive", incarnation: 0, generation: 2 })
  })

  it("never adds a member from gossip, whoever says it and whatever it says", () => {
    const table = tracking()
    for (const status of ["alive", "suspect", "dead", "left"] as const) {
      for (const from of ["x:1", "fake:1"]) {
        expect(table.apply({ address: "fake:1", incarnation: 0, status }, from, 1)).toEqual({ change: undefined, check: false })
      }
    }
    expect(table.get("fake:1")).toBeUndefined()
    expect(table.probeable()).toEqual([M, OTHER])
  })

  describe("trust by source", () => {
    it.each(trust)("%s + %s from %s -> %s (probe now: %s)", (current, rumor, source, expected, check) => {
      const table = tracking(current)
      const applied = table.apply(at(rumor), source === "self" ? M : OTHER, 10)
      expect(view(table)).toBe(expected)
      expect(applied.check).toBe(check)
      expect(applied.change === undefined).toBe(expected === current)
    })
  })

  it("ignores incarnations outside the wire type", () => {
    const table = tracking()
    for (const incarnation of [-1, 1.5, Number.NaN, MAX_INCARNATION + 1, Number.MAX_SAFE_INTEGER]) {
      expect(table.apply({ address: M, incarnation, status: "alive" }, M, 1).change).toBeUndefined()
      expect(table.apply({ address: SELF, incarnation, status: "suspect" }, OTHER, 1).change).toBeUndefined()
    }
    expect(table.apply({ address: M, incarnation: 1, status: "zombie" as MemberStatus }, M, 1).change).toBeUndefined()
    expect(view(table)).toBe("alive@0")
    expect(table.selfIncarnation).toBe(0)
  })

  describe("rumors about self", () => {
    it("refutes a suspicion, death or leave at or above its incarnation by going alive just above it", () => {
      const table = new MemberTable(SELF, 0)
      expect(table.apply(at("suspect@0", SELF), OTHER, 1).change).toEqual(at("alive@1", SELF))
      expect(table.apply(at("dead@1", SELF), OTHER, 1).change).toEqual(at("alive@2", SELF))
      expect(table.apply(at("left@7", SELF), OTHER, 1).change).toEqual(at("alive@8", SELF))
      expect(table.apply(at("suspect@3", SELF), OTHER, 1).change).toBeUndefined()
      expect(table.apply(at("alive@99", SELF), OTHER, 1).change).toBeUndefined()
      expect(table.selfIncarnation).toBe(8)
    })

    it("saturates at the highest incarnation the wire carries, where answering probes refutes", () => {
      const table = new MemberTable(SELF, 0)
      table.apply(at(`left@${MAX_INCARNATION}`, SELF), OTHER, 1)
      expect(table.selfIncarnation).toBe(MAX_INCARNATION)
      expect(view(table, SELF)).toBe(`alive@${MAX_INCARNATION}`)
    })

    it("never suspects self locally, and stays left once it left", () => {
      const table = new MemberTable(SELF, 0)
      expect(table.suspect(SELF, 1)).toBeUndefined()
      expect(table.leave(5)).toEqual(at("left@1", SELF))
      expect(table.leave(6)).toEqual(at("left@1", SELF))
      expect(table.apply(at("dead@9", SELF), OTHER, 7).change).toBeUndefined()
    })
  })

  describe("answers from the member", () => {
    it("brings a suspect or dead member back when the process the ring names answers", () => {
      const table = tracking("dead@2")
      expect(table.heardFrom(M, 1, 5)).toEqual(at("alive@2"))
      expect(table.heardFrom(M, 1, 6)).toBeUndefined()
    })

    it("lists the members held dead apart from the probe rotation, so they are pinged until one answers", () => {
      const table = tracking("dead@0")
      expect(table.dead()).toEqual([M])
      expect(table.probeable()).toEqual([OTHER])
      table.heardFrom(M, 1, 5)
      expect(table.dead()).toEqual([])
      expect(table.probeable()).toEqual([M, OTHER])
    })

    it("declares the member dead at once when another process answers at its address (it restarted)", () => {
      const table = tracking()
      expect(table.heardFrom(M, 2, 5)).toEqual(at("dead@0"))
      expect(table.get(M)?.changedAtMs).toBe(5)
      expect(table.heardFrom(M, 2, 6)).toBeUndefined()
    })
  })

  describe("local suspicion and expiry", () => {
    it("declares a suspect dead once the timeout has passed since the suspicion started", () => {
      const table = tracking()
      table.suspect(M, 100)
      expect(table.expireSuspects(149, 50)).toEqual([])
      expect(table.expireSuspects(150, 50)).toEqual([at("dead@0")])
      expect(table.get(M)?.changedAtMs).toBe(150)
      expect(table.expireSuspects(1000, 50)).toEqual([])
    })

    it("does not expire a member that answered meanwhile", () => {
      const table = tracking()
      table.suspect(M, 100)
      table.heardFrom(M, 1, 120)
      expect(table.expireSuspects(10_000, 50)).toEqual([])
    })
  })

  describe("properties", () => {
    const address = fc.constantFrom(SELF, M, OTHER, "fake:1")
    const status = fc.constantFrom<MemberStatus>("alive", "suspect", "dead", "left")
    const rumor = fc.record({ address, incarnation: fc.integer({ min: 0, max: MAX_INCARNATION }), status })
    const op = fc.oneof(
      fc.record({ op: fc.constant("apply" as const), rumor, from: address }),
      fc.record({ op: fc.constant("suspect" as const), address }),
      fc.record({ op: fc.constant("expire" as const), timeoutMs: fc.integer({ min: 0, max: 30 }) }),
      fc.record({ op: fc.constant("tick" as const), ms: fc.integer({ min: 0, max: 20 }) })
    )

    it.prop(
      "never tracks an address it was not given, and a member that answers is alive whatever was said of it",
      [fc.array(op, { maxLength: 100 })],
      ([ops]) => {
        const table = tracking()
        let nowMs = 0
        for (const o of ops) {
          if (o.op === "apply") table.apply(o.rumor, o.from, nowMs)
          else if (o.op === "suspect") table.suspect(o.address, nowMs)
          else if (o.op === "expire") table.expireSuspects(nowMs, o.timeoutMs)
          else nowMs += o.ms
          expect(table.members().map((m) => m.address)).toEqual([M, OTHER, SELF])
          expect(table.get(SELF)?.status).toBe("alive")
        }
        table.heardFrom(M, 1, nowMs)
        table.heardFrom(OTHER, 1, nowMs)
        expect(table.probeable()).toEqual([M, OTHER])
      }
    )

    it.prop(
      "never lowers self's incarnation, and keeps it within the wire type",
      [fc.array(fc.tuple(rumor, address), { maxLength: 60 })],
      ([rumors]) => {
        const table = new MemberTable(SELF, 0)
        let last = 0
        rumors.forEach(([r, from], i) => {
          table.apply(r, from, i)
          expect(table.selfIncarnation).toBeGreaterThanOrEqual(last)
          expect(table.selfIncarnation).toBeLessThanOrEqual(MAX_INCARNATION)
          last = table.selfIncarnation
        })
      }
    )
  })
})
