import { describe, expect, it } from "@effect/vitest"
import type { ReplicaReply } from "../../src/replication/protocol.js"
import { ReadRound, WriteRound } from "../../src/replication/quorum.js"

const v = (hlc: number) => ({ hlc, nodeId: 1, generation: 1 })
const applied: ReplicaReply = { _tag: "Applied", existed: false }
const stale = (hlc: number): ReplicaReply => ({ _tag: "Stale", current: v(hlc) })
const down = { _tag: "PeerTimeout" } as const

/** Feeds replies in order; returns the first verdict and after how many replies it came. */
const run = (round: WriteRound, replies: ReadonlyArray<ReplicaReply | typeof down>) => {
  for (const [i, reply] of replies.entries()) {
    const verdict = round.record(reply)
    if (verdict !== undefined) return { after: i + 1, verdict: verdict._tag }
  }
  return { after: replies.length, verdict: "none" }
}

describe("WriteRound", () => {
  const cases: ReadonlyArray<readonly [string, ReadonlyArray<ReplicaReply | typeof down>, { after: number; verdict: string }]> = [
    ["succeeds at the second Applied, without the third", [applied, applied, stale(9)], { after: 2, verdict: "Written" }],
    ["succeeds despite one silent replica", [down, applied, applied], { after: 3, verdict: "Written" }],
    ["is unavailable once two of three are down", [applied, down, down], { after: 3, verdict: "Unavailable" }],
    ["retries when every replica refused and none applied", [stale(5), stale(9), stale(7)], { after: 3, verdict: "Stale" }],
    ["waits for the last answer before choosing retry or give-up", [stale(5), stale(9)], { after: 2, verdict: "none" }],
    ["gives up when an attempt was partly applied and could be read (a retry could show it twice)", [applied, stale(9), down], { after: 3, verdict: "Superseded" }],
    ["retries a partly applied attempt when newer versions meet every read quorum", [applied, stale(9), stale(7)], { after: 3, verdict: "Stale" }],
    ["retries even if a timed-out replica took the attempt, when newer versions meet every read quorum", [stale(5), down, stale(7)], { after: 3, verdict: "Stale" }]
  ]
  for (const [name, replies, expected] of cases) it(name, () => expect(run(new WriteRound(3, 2), replies)).toEqual(expected))

  it("gives up when a timed-out replica may hold the attempt and newer versions do not meet every quorum", () => {
    // Five replicas, W = 3: two refusals leave a read quorum of three without a newer version.
    expect(run(new WriteRound(5, 3), [stale(9), stale(8), down, down, stale(7)]).verdict).toBe("Stale")
    expect(run(new WriteRound(5, 3), [stale(9), down, down, stale(8), applied])).toEqual({ after: 5, verdict: "Superseded" })
  })

  it("reports the newest refusing version to retry above", () => {
    const round = new WriteRound(3, 2)
    round.record(stale(5))
    round.record(stale(9))
    expect(round.record(stale(7))).toEqual({ _tag: "Stale", newest: v(9) })
  })
})

describe("ReadRound", () => {
  it("settles at R answers and picks the newest, flagging disagreement", () => {
    const round = new ReadRound(3, 2)
    expect(round.record("a", { _tag: "Found", version: v(1), value: "old", expiresAtMs: 0 })).toBeUndefined()
    const verdict = round.record("b", { _tag: "Found", version: v(2), value: "new", expiresAtMs: 0 })
    expect(verdict).toMatchObject({ _tag: "Read", winner: { value: "new" }, holders: ["b"], needsWriteBack: true, forgotten: false })
  })

  it("does not return a value older than what an answering replica forgot", () => {
    const round = new ReadRound(3, 2)
    round.record("a", { _tag: "Found", version: v(3), value: "x", expiresAtMs: 0 })
    expect(round.record("b", { _tag: "Absent", watermark: v(3) })).toMatchObject({ forgotten: true })
  })

  it("treats a newer deletion as the winner", () => {
    const round = new ReadRound(3, 2)
    round.record("a", { _tag: "Found", version: v(3), value: "x", expiresAtMs: 0 })
    expect(round.record("b", { _tag: "Deleted", version: v(4) })).toMatchObject({ winner: { _tag: "Deleted" }, forgotten: false })
  })

  it("is unavailable when fewer than R can still answer", () => {
    const round = new ReadRound(3, 2)
    expect(round.record("a", down)).toBeUndefined()
    expect(round.record("b", down)).toEqual({ _tag: "Unavailable", acked: 0 })
  })
})
