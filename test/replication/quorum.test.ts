import * as V from "../../src/clock/version.js"
import { describe, expect, it } from "@effect/vitest"
import type { ReplicaReply } from "../../src/protocol/replica.js"
import { ReadRound, type Withheld, WriteRound } from "../../src/replication/quorum.js"

const v = (hlc: number) => ({ hlc, nodeId: 1, generation: 1 })
const applied: ReplicaReply = { _tag: "Applied", existed: false }
const stale = (hlc: number): ReplicaReply => ({ _tag: "Stale", current: v(hlc) })
const down = { _tag: "PeerTimeout" } as const
const notReady: ReplicaReply = { _tag: "NotReady" }

const fenced = (epoch: number): ReplicaReply => ({ _tag: "WrongEpoch", epoch })
const ADDRESSES = ["a", "b", "c", "d", "e"]

/** One replica set of the first `n` addresses needing `required`. */
const single = (n: number, required: number) => new WriteRound([{ replicas: ADDRESSES.slice(0, n), required }])

/** Feeds replies in order (from a, b, c, ... unless given as [address, reply]); the first verdict and after how many replies. */
const run = (round: WriteRound, replies: ReadonlyArray<ReplicaReply | typeof down | Withheld | readonly [string, ReplicaReply | typeof down]>) => {
  for (const [i, entry] of replies.entries()) {
    const [address, reply] = Array.isArray(entry) ? entry as [string, ReplicaReply] : [ADDRESSES[i]!, entry as ReplicaReply]
    const verdict = round.record(address, reply)
    if (verdict !== undefined) return { after: i + 1, verdict: verdict._tag }
  }
  return { after: replies.length, verdict: "none" }
}

describe("WriteRound", () => {
  const cases: ReadonlyArray<readonly [string, ReadonlyArray<ReplicaReply | typeof down | Withheld>, { after: number; verdict: string }]> = [
    ["succeeds at the second Applied, without the third", [applied, applied, stale(9)], { after: 2, verdict: "Written" }],
    ["succeeds despite one silent replica", [down, applied, applied], { after: 3, verdict: "Written" }],
    ["is unavailable once two of three are down", [applied, down, down], { after: 3, verdict: "Unavailable" }],
    ["retries when every replica refused and none applied", [stale(5), stale(9), stale(7)], { after: 3, verdict: "Stale" }],
    ["waits for the last answer before choosing retry or give-up", [stale(5), stale(9)], { after: 2, verdict: "none" }],
    ["gives up when an attempt was partly applied (a read may have seen it; a retry could show it twice)", [applied, stale(9), stale(7)], { after: 3, verdict: "Superseded" }],
    ["retries when the remotes refused and the local copy was withheld", [stale(9), stale(7), { _tag: "Withheld" }], { after: 3, verdict: "Stale" }],
    ["gives up when a timed-out replica may have taken the attempt", [stale(5), down, stale(7)], { after: 3, verdict: "Superseded" }],
    ["does not count a pending replica's ack: it needs the two voters", [notReady, applied, applied], { after: 3, verdict: "Written" }],
    ["is unavailable when a pending replica and a silent one leave one voter", [notReady, down], { after: 2, verdict: "Unavailable" }],
    // A pending copy is never read until that replica has pulled newer versions, so it cannot be seen twice.
    ["retries when the voters refused, whatever the pending replica did", [stale(5), notReady, stale(7)], { after: 3, verdict: "Stale" }]
  ]
  for (const [name, replies, expected] of cases) it(name, () => expect(run(single(3, 2), replies)).toEqual(expected))

  it("decides only once every replica answered, with five replicas", () => {
    expect(run(single(5, 3), [stale(9), stale(8), stale(1), stale(2), stale(7)])).toEqual({ after: 5, verdict: "Stale" })
    expect(run(single(5, 3), [stale(9), down, down, stale(8), applied])).toEqual({ after: 5, verdict: "Superseded" })
  })

  it("reports the newest refusing version to retry above", () => {
    const round = single(3, 2)
    round.record("a", stale(5))
    round.record("b", stale(9))
    expect(round.record("c", stale(7))).toEqual({ _tag: "Stale", newest: v(9) })
  })

  it("follows a newer ring as soon as a fenced replica keeps the quorum out of reach, even if another applied", () => {
    expect(run(single(3, 2), [applied, fenced(7), fenced(7)])).toEqual({ after: 3, verdict: "Fenced" })
    expect(run(single(3, 2), [fenced(7), down])).toEqual({ after: 2, verdict: "Fenced" })
    const round = single(3, 2)
    round.record("a", fenced(5))
    expect(round.record("b", fenced(9))).toEqual({ _tag: "Fenced", epoch: 9, from: "b", landed: true })
    // A fenced replica the quorum can do without changes nothing.
    expect(run(single(3, 2), [fenced(7), applied, applied])).toEqual({ after: 3, verdict: "Written" })
  })

  describe("joint quorums during a movement (previous ring a,b,c; new ring b,c,d)", () => {
    const joint = () => new WriteRound([{ replicas: ["a", "b", "c"], required: 2 }, { replicas: ["b", "c", "d"], required: 2 }])
    it("is written once both sets have a majority; a replica in both counts in both", () => {
      expect(run(joint(), [["b", applied], ["c", applied]])).toEqual({ after: 2, verdict: "Written" })
      expect(run(joint(), [["a", applied], ["d", applied], ["b", applied]])).toEqual({ after: 3, verdict: "Written" })
    })
    it("is not written with a majority of only one set", () => {
      expect(run(joint(), [["a", applied], ["b", applied], ["c", down], ["d", down]])).toEqual({ after: 4, verdict: "Unavailable" })
    })
    it("is unavailable as soon as one set can no longer reach its majority", () => {
      expect(run(joint(), [["d", down], ["c", down]])).toEqual({ after: 2, verdict: "Unavailable" })
    })
    it("counts a not-yet-pulled new replica's ack for the new set", () => {
      expect(run(joint(), [["a", applied], ["b", applied], ["d", applied]])).toEqual({ after: 3, verdict: "Written" })
    })
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
    expect(round.record("b", { _tag: "Absent", watermark: v(4) })).toMatchObject({ forgotten: true })
  })

  it("returns the very version a replica evicted, unless its TTL may have run out somewhere", () => {
    const evicted = new ReadRound(3, 2, 1_000)
    evicted.record("a", { _tag: "Found", version: v(3), value: "x", expiresAtMs: 0 })
    expect(evicted.record("b", { _tag: "Absent", watermark: v(3) })).toMatchObject({ forgotten: false, needsWriteBack: true })
    const later = new ReadRound(3, 2, 1_000)
    later.record("a", { _tag: "Found", version: v(3), value: "x", expiresAtMs: 5_000 })
    expect(later.record("b", { _tag: "Absent", watermark: v(3) })).toMatchObject({ forgotten: false })
    const expiring = new ReadRound(3, 2, 1_000)
    expiring.record("a", { _tag: "Found", version: v(3), value: "x", expiresAtMs: 900 })
    expect(expiring.record("b", { _tag: "Absent", watermark: v(3) })).toMatchObject({ forgotten: true })
  })

  it("makes 'not found' stick when nobody holds the key but one replica forgot something in its bucket", () => {
    const round = new ReadRound(3, 2)
    expect(round.record("a", { _tag: "Absent", watermark: v(5) })).toBeUndefined()
    expect(round.record("b", { _tag: "Absent", watermark: V.ZERO })).toMatchObject({ winner: undefined, forgotten: true })
    // Nobody forgot anything: two "absent" answers are a plain "not found".
    const plain = new ReadRound(3, 2)
    plain.record("a", { _tag: "Absent", watermark: V.ZERO })
    expect(plain.record("b", { _tag: "Absent", watermark: V.ZERO })).toMatchObject({ winner: undefined, forgotten: false })
  })

  it("treats a newer deletion as the winner", () => {
    const round = new ReadRound(3, 2)
    round.record("a", { _tag: "Found", version: v(3), value: "x", expiresAtMs: 0 })
    expect(round.record("b", { _tag: "Deleted", version: v(4) })).toMatchObject({ winner: { _tag: "Deleted" }, forgotten: false })
  })

  it("does not count a pending replica's answer towards R", () => {
    const round = new ReadRound(3, 2)
    expect(round.record("a", { _tag: "Found", version: v(1), value: "x", expiresAtMs: 0 })).toBeUndefined()
    expect(round.record("p", notReady)).toBeUndefined()
    expect(round.record("b", { _tag: "Found", version: v(1), value: "x", expiresAtMs: 0 })).toMatchObject({ holders: ["a", "b"] })
    const short = new ReadRound(3, 2)
    short.record("p", notReady)
    expect(short.record("q", down)).toEqual({ _tag: "Unavailable", acked: 0, replicas: 3, required: 2 })
  })

  it("is unavailable when fewer than R can still answer", () => {
    const round = new ReadRound(3, 2)
    expect(round.record("a", down)).toBeUndefined()
    expect(round.record("b", down)).toEqual({ _tag: "Unavailable", acked: 0, replicas: 3, required: 2 })
  })
})

describe("ReadRound fencing", () => {
  it("follows the newest ring a replica refused with once R is out of reach", () => {
    const round = new ReadRound(3, 2)
    expect(round.record("a", { _tag: "WrongEpoch", epoch: 4 })).toBeUndefined()
    expect(round.record("b", { _tag: "WrongEpoch", epoch: 6 })).toMatchObject({ _tag: "Fenced", epoch: 6, from: "b" })
  })
})
