import { describe, expect, it } from "@effect/vitest"
import fc from "fast-check"
import * as V from "../../src/clock/version.js"
import type { ReplicaReply } from "../../src/protocol/replica.js"
import { ReadRound } from "../../src/replication/quorum.js"
import { ReadFanout } from "../../src/replication/readFanout.js"
import { WriteFanout } from "../../src/replication/writeFanout.js"

const v = (hlc: number) => ({ hlc, nodeId: 1, generation: 1 })
const applied: ReplicaReply = { _tag: "Applied", existed: false }
const stale: ReplicaReply = { _tag: "Stale", current: v(9) }
const down = { _tag: "PeerTimeout", address: "x", reason: "test" } as never as ReplicaReply
const notReady: ReplicaReply = { _tag: "NotReady" }
const foundAt = (hlc: number): ReplicaReply => ({ _tag: "Found", version: v(hlc), value: "x", expiresAtMs: 0 })
const absent: ReplicaReply = { _tag: "Absent", watermark: V.ZERO }

/** Drives a write fan-out: remote answers in the given order, the local one (when sent) answering `local` at once. */
const driveWrite = (
  replicas: ReadonlyArray<string>,
  required: number,
  self: string,
  remoteReplies: ReadonlyArray<readonly [string, ReplicaReply]>,
  local: ReplicaReply = applied
) => {
  const fan = new WriteFanout([{ replicas, required }], self)
  const events: Array<string> = []
  const verdicts: Array<string> = []
  const act = (step: { verdict?: { _tag: string } | undefined; sendLocal: boolean }) => {
    if (step.verdict !== undefined) verdicts.push(step.verdict._tag)
    if (step.sendLocal) sendLocal()
  }
  const sendLocal = () => {
    events.push(`local:${self}`)
    act(fan.localAnswered(local))
  }
  if (fan.localAtOnce) sendLocal()
  for (const [address, reply] of remoteReplies) {
    events.push(`${address}:${reply._tag}`)
    act(fan.remoteAnswered(address, reply))
  }
  return { remotes: fan.remotes, localAtOnce: fan.localAtOnce, events, verdicts }
}

describe("WriteFanout", () => {
  it("holds the local copy back until a remote replica applied the attempt", () => {
    const run = driveWrite(["a", "b", "c"], 2, "a", [["b", applied], ["c", applied]])
    expect(run).toEqual({ remotes: ["b", "c"], localAtOnce: false, events: ["b:Applied", "local:a", "c:Applied"], verdicts: ["Written"] })
  })

  it("withholds the local copy when every remote refused, so the attempt exists nowhere and may retry", () => {
    const run = driveWrite(["a", "b", "c"], 2, "a", [["b", stale], ["c", stale]])
    expect(run.events).toEqual(["b:Stale", "c:Stale"])
    expect(run.verdicts).toEqual(["Stale"])
  })

  it("counts a silent remote as possibly applied: the attempt must not be retried at a newer version", () => {
    expect(driveWrite(["a", "b", "c"], 2, "a", [["b", stale], ["c", down]]).verdicts).toEqual(["Superseded"])
  })

  it("sends the local copy at once when one ack is enough, or when no replica is remote", () => {
    expect(driveWrite(["a", "b", "c"], 1, "a", []).events).toEqual(["local:a"])
    expect(driveWrite(["a"], 1, "a", [])).toMatchObject({ remotes: [], events: ["local:a"], verdicts: ["Written"] })
  })

  it("never sends a local copy when this node is not a replica", () => {
    const run = driveWrite(["b", "c", "d"], 2, "a", [["b", stale], ["c", applied], ["d", applied]])
    expect(run).toMatchObject({ localAtOnce: false, events: ["b:Stale", "c:Applied", "d:Applied"], verdicts: ["Written"] })
  })

  it("sends every replica of a joint write once, the local copy after the first remote ack", () => {
    const fan = new WriteFanout([{ replicas: ["a", "b", "c"], required: 2 }, { replicas: ["b", "c", "d"], required: 2 }], "a")
    expect(fan.remotes).toEqual(["b", "c", "d"])
    expect(fan.remoteAnswered("d", applied)).toEqual({ verdict: undefined, sendLocal: true })
  })

  const replyArb = fc.constantFrom(applied, stale, down, notReady)
  it("sends the local copy at most once and only after a remote applied; a round where nothing applied is never given up as seen", () => {
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 5 }),
      fc.boolean(),
      fc.integer({ min: 1, max: 5 }),
      fc.array(replyArb, { minLength: 5, maxLength: 5 }),
      fc.constantFrom(applied, stale),
      (n, selfIsReplica, requiredRaw, replies, local) => {
        const replicas = ["a", "b", "c", "d", "e"].slice(0, n)
        const self = selfIsReplica ? "a" : "z"
        const required = Math.min(requiredRaw, n)
        const remotes = replicas.filter((r) => r !== self)
        const run = driveWrite(replicas, required, self, remotes.map((r, i) => [r, replies[i]!] as const), local)
        expect(run.localAtOnce).toBe(selfIsReplica && (remotes.length === 0 || required <= 1))
        const localSends = run.events.filter((e) => e.startsWith("local:")).length
        expect(localSends).toBeLessThanOrEqual(1)
        if (!selfIsReplica) expect(localSends).toBe(0)
        if (localSends === 1 && !run.localAtOnce) {
          expect(run.events.indexOf("local:a")).toBeGreaterThan(run.events.findIndex((e) => e.endsWith(":Applied")))
          expect(run.events.some((e) => e.endsWith(":Applied"))).toBe(true)
        }
        // Every target answered (or was withheld): the round has decided, exactly once.
        expect(run.verdicts.length).toBe(1)
        const nothingApplied = remotes.every((_, i) => replies[i] === stale) && (localSends === 0 || local === stale)
        if (nothingApplied && required > 0) expect(run.verdicts[0]).toBe("Stale")
      }
    ), { seed: 15, numRuns: 500 })
  })
})

describe("ReadFanout", () => {
  const fanOf = (order: ReadonlyArray<string>, first: number, required: number) =>
    new ReadFanout(order, first, new ReadRound(order.length, required))
  const due = (fan: ReadFanout) => {
    const asked: Array<string> = []
    for (let a = fan.next(); a !== undefined; a = fan.next()) asked.push(a)
    return asked
  }

  it("asks a quorum first, settles at quorum, and repairs a later answer behind the winner", () => {
    const fan = fanOf(["a", "b", "c"], 2, 2)
    expect(due(fan)).toEqual(["a", "b"])
    expect(fan.waiting()).toBe(true)
    expect(fan.answered("a", foundAt(5))).toBeUndefined()
    expect(fan.answered("b", foundAt(5))).toMatchObject({ _tag: "Settled", verdict: { _tag: "Read", needsWriteBack: false } })
    expect(fan.waiting()).toBe(false)
    expect(fan.answered("c", foundAt(3))).toEqual({ _tag: "Repair", write: { version: v(5), value: "x", expiresAtMs: 0 } })
    expect(fan.answered("c", absent)).toMatchObject({ _tag: "Repair" })
    expect(fan.answered("c", foundAt(5))).toBeUndefined()
  })

  it("asks another replica at once when one cannot vote", () => {
    const fan = fanOf(["a", "b", "c"], 2, 2)
    expect(due(fan)).toEqual(["a", "b"])
    expect(fan.answered("a", notReady)).toBeUndefined()
    expect(due(fan)).toEqual(["c"])
    expect(fan.answered("b", down)).toMatchObject({ _tag: "Settled", verdict: { _tag: "Unavailable" } })
  })

  it("asks every replica left once the speculative delay passes, and nobody once the round settled", () => {
    const fan = fanOf(["a", "b", "c", "d", "e"], 3, 3)
    expect(due(fan)).toEqual(["a", "b", "c"])
    expect(fan.speculate()).toBe(true)
    expect(due(fan)).toEqual(["d", "e"])
    const settled = fanOf(["a", "b", "c"], 1, 1)
    due(settled)
    settled.answered("a", foundAt(1))
    expect(settled.speculate()).toBe(false)
    expect(due(settled)).toEqual([])
  })

  const answerArb = fc.constantFrom(foundAt(1), foundAt(2), absent, down, notReady)
  it("asks each replica at most once and no more than it needs, settles exactly once when all have answered, and repairs only after settling", () => {
    fc.assert(fc.property(
      fc.integer({ min: 1, max: 5 }),
      fc.integer({ min: 1, max: 5 }),
      fc.integer({ min: 1, max: 5 }),
      fc.array(answerArb, { minLength: 5, maxLength: 5 }),
      fc.array(fc.nat(), { minLength: 12, maxLength: 12 }),
      fc.integer({ min: 0, max: 12 }),
      (n, firstRaw, requiredRaw, answers, picks, speculateAt) => {
        const order = ["a", "b", "c", "d", "e"].slice(0, n)
        const required = Math.min(requiredRaw, n)
        const first = Math.max(required, Math.min(firstRaw, n))
        const fan = fanOf(order, first, required)
        const asked: Array<string> = []
        const inFlight: Array<string> = []
        let settled = 0
        let nonVotes = 0
        let speculated = false
        const ask = () => due(fan).forEach((a) => { asked.push(a); inFlight.push(a) })
        ask()
        for (let step = 0; inFlight.length > 0 || (step <= speculateAt && fan.waiting()); step++) {
          if (step === speculateAt && fan.speculate()) {
            speculated = true
            ask()
          }
          if (inFlight.length === 0) continue
          const [address] = inFlight.splice(picks[step % picks.length]! % inFlight.length, 1)
          const answer = answers[order.indexOf(address!)]!
          if (settled === 0 && (answer === down || answer === notReady)) nonVotes++
          const result = fan.answered(address!, answer)
          if (result?._tag === "Settled") settled++
          if (result?._tag === "Repair") expect(settled).toBe(1)
          ask()
        }
        expect(new Set(asked).size).toBe(asked.length)
        // Beyond the first quorum, only a replacement per answer that could not vote, or the speculative rest.
        if (!speculated) expect(asked.length).toBeLessThanOrEqual(Math.min(n, first + nonVotes))
        // Either it settled, or replicas are still unasked, waiting for the speculative delay.
        if (settled === 0) expect(fan.waiting()).toBe(true)
        expect(settled).toBeLessThanOrEqual(1)
      }
    ), { seed: 15, numRuns: 500 })
  })
})
