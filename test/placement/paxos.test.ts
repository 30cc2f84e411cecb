import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import { AcceptorState, ProposerRound, type RoundStep } from "../../src/placement/paxos.js"
import type { Ballot, ConfigValue } from "../../src/protocol/placement.js"

const value = (tag: number): ConfigValue => ({ phase: "stable", members: [{ address: `10.0.0.${tag}:1`, generation: 1 }], previous: [], forced: [] })
const ballot = (round: number, proposer = "p"): Ballot => ({ round, proposer })
const ACCEPTORS = ["a", "b", "c"]

describe("AcceptorState", () => {
  it("promises only higher ballots and reports what it accepted", () => {
    const acceptor = new AcceptorState(7)
    expect(acceptor.prepare(ballot(2))).toEqual({ ok: true, promised: ballot(2), accepted: undefined })
    expect(acceptor.prepare(ballot(2))).toMatchObject({ ok: false, promised: ballot(2) })
    expect(acceptor.prepare(ballot(1))).toMatchObject({ ok: false })
    expect(acceptor.accept(ballot(2), value(1))).toEqual({ ok: true, promised: ballot(2) })
    expect(acceptor.prepare(ballot(3))).toEqual({ ok: true, promised: ballot(3), accepted: { ballot: ballot(2), value: value(1) } })
    expect(acceptor.accept(ballot(2), value(2))).toEqual({ ok: false, promised: ballot(3) })
  })

  it("orders equal rounds by proposer", () => {
    const acceptor = new AcceptorState(1)
    acceptor.prepare(ballot(4, "b"))
    expect(acceptor.prepare(ballot(4, "a")).ok).toBe(false)
    expect(acceptor.prepare(ballot(4, "c")).ok).toBe(true)
  })
})

describe("ProposerRound", () => {
  it("adopts the highest-ballot value accepted in phase 1, else proposes its own", () => {
    const round = new ProposerRound(1, ballot(5), ACCEPTORS, 2, value(9))
    expect(round.onPromise("a", { ok: true, promised: ballot(5), accepted: { ballot: ballot(2), value: value(1) } })).toEqual({ _tag: "Wait" })
    expect(round.onPromise("b", { ok: true, promised: ballot(5), accepted: { ballot: ballot(3), value: value(2) } })).toEqual({
      _tag: "Accept",
      value: value(2)
    })
    const fresh = new ProposerRound(1, ballot(5), ACCEPTORS, 2, value(9))
    fresh.onPromise("a", { ok: true, promised: ballot(5), accepted: undefined })
    expect(fresh.onPromise("b", { ok: true, promised: ballot(5), accepted: undefined })).toEqual({ _tag: "Accept", value: value(9) })
  })

  it("counts each acceptor once, and only acceptors", () => {
    const round = new ProposerRound(1, ballot(1), ACCEPTORS, 2, value(1))
    const promise = { ok: true, promised: ballot(1), accepted: undefined }
    expect(round.onPromise("a", promise)._tag).toBe("Wait")
    expect(round.onPromise("a", promise)._tag).toBe("Wait")
    expect(round.onPromise("z", promise)._tag).toBe("Wait")
    expect(round.onPromise("b", promise)._tag).toBe("Accept")
  })

  it("is lost once a quorum can no longer answer yes, telling the highest ballot seen", () => {
    const round = new ProposerRound(1, ballot(1), ACCEPTORS, 2, value(1))
    expect(round.onPromise("a", { ok: false, promised: ballot(7, "q"), accepted: undefined })._tag).toBe("Wait")
    expect(round.onSilence("b")).toEqual({ _tag: "Lost", highest: ballot(7, "q") })
  })

  it("decides with a quorum of acceptances", () => {
    const round = new ProposerRound(1, ballot(1), ACCEPTORS, 2, value(1))
    for (const a of ["a", "b"]) round.onPromise(a, { ok: true, promised: ballot(1), accepted: undefined })
    expect(round.onAccepted("a", { ok: true, promised: ballot(1) })._tag).toBe("Wait")
    expect(round.onAccepted("c", { ok: true, promised: ballot(1) })).toEqual({ _tag: "Decided", value: value(1) })
  })

  // Several proposers with their own values, messages delivered in any order, some lost: at most one value is decided.
  it.prop(
    "never decides two values in one instance, whatever the interleaving",
    [fc.array(fc.tuple(fc.nat(2), fc.nat(2), fc.boolean()), { minLength: 1, maxLength: 200 }), fc.integer({ min: 2, max: 3 })],
    ([schedule, proposers]) => {
      const acceptors = new Map(ACCEPTORS.map((a) => [a, new AcceptorState(1)]))
      const decided = new Set<string>()
      const rounds = Array.from({ length: proposers }, (_, p) => ({ round: new ProposerRound(1, ballot(1, `p${p}`), ACCEPTORS, 2, value(p)), tries: 1 }))
      // Each step: proposer p sends its current phase's message to acceptor a (or the message is lost).
      for (const [p, a, delivered] of schedule) {
        const slot = rounds[p % proposers]!
        const acceptor = acceptors.get(ACCEPTORS[a]!)!
        let step: RoundStep
        if (!delivered) step = slot.round.onSilence(ACCEPTORS[a]!)
        else if (!slot.round.accepting) step = slot.round.onPromise(ACCEPTORS[a]!, acceptor.prepare(slot.round.ballot))
        else step = slot.round.onAccepted(ACCEPTORS[a]!, acceptor.accept(slot.round.ballot, slot.round.value!))
        if (step._tag === "Decided") decided.add(JSON.stringify(step.value))
        if (step._tag === "Lost" || step._tag === "Decided") {
          slot.tries++
          const round = Math.max(slot.tries, (step._tag === "Lost" ? step.highest?.round ?? 0 : 0) + 1)
          slot.round = new ProposerRound(1, ballot(round, `p${p % proposers}`), ACCEPTORS, 2, value(p % proposers))
        }
      }
      expect(decided.size).toBeLessThanOrEqual(1)
    }
  )
})
