import { describe, expect, it } from "@effect/vitest"
import { FastCheck as fc } from "effect"
import { GossipQueue, retransmitLimit } from "../../src/membership/gossip.js"
import type { MemberUpdate } from "../../src/protocol/membership.js"

const alive = (address: string, incarnation = 0): MemberUpdate => ({ address, incarnation, status: "alive" })
const addresses = (updates: ReadonlyArray<MemberUpdate>) => updates.map((u) => u.address)

describe("retransmitLimit", () => {
  it.each([
    [0, 4, 1],
    [1, 4, 4],
    [9, 4, 4],
    [10, 4, 8],
    [99, 4, 8],
    [100, 4, 12],
    [999, 4, 12],
    [1000, 4, 16],
    [10, 3, 6],
    [5, 0, 1]
  ])("n=%i, multiplier=%i -> %i", (clusterSize, multiplier, expected) => {
    expect(retransmitLimit(clusterSize, multiplier)).toBe(expected)
  })

  it("defaults the multiplier to 4", () => {
    expect(retransmitLimit(10)).toBe(8)
  })
})

describe("GossipQueue", () => {
  it("replaces a queued update about the same address and starts its retransmissions afresh", () => {
    const queue = new GossipQueue(10)
    queue.enqueue(alive("a", 1))
    queue.take(1, 1) // sent once of 4
    queue.enqueue({ address: "a", incarnation: 1, status: "suspect" })
    expect(queue.size).toBe(1)
    for (let i = 0; i < 4; i++) expect(queue.take(5, 1)).toEqual([{ address: "a", incarnation: 1, status: "suspect" }])
    expect(queue.size).toBe(0)
  })

  it("drops the oldest update when full", () => {
    const queue = new GossipQueue(2)
    queue.enqueue(alive("a"))
    queue.enqueue(alive("b"))
    queue.enqueue(alive("a", 1)) // replacing makes a the newest
    queue.enqueue(alive("c"))
    expect(queue.size).toBe(2)
    expect(queue.take(10, 10)).toEqual([alive("c"), alive("a", 1)])
  })

  it("sends each update retransmitLimit(n) times, then drops it", () => {
    const queue = new GossipQueue(10)
    queue.enqueue(alive("a"))
    const limit = retransmitLimit(10)
    for (let i = 0; i < limit; i++) expect(addresses(queue.take(1, 10))).toEqual(["a"])
    expect(queue.size).toBe(0)
    expect(queue.take(1, 10)).toEqual([])
  })

  it("drops unsent what has already been sent often enough when the cluster shrinks", () => {
    const queue = new GossipQueue(10)
    queue.enqueue(alive("a"))
    for (let i = 0; i < 4; i++) queue.take(1, 10) // limit 8 at n=10
    expect(queue.size).toBe(1)
    expect(queue.take(1, 1)).toEqual([]) // limit 4 at n=1
    expect(queue.size).toBe(0)
  })

  it("takes the fewest-sent updates first, the newest first among equals, and no more than max", () => {
    const queue = new GossipQueue(10)
    queue.enqueue(alive("a"))
    queue.enqueue(alive("b"))
    expect(addresses(queue.take(1, 10))).toEqual(["b"])
    queue.enqueue(alive("c"))
    expect(addresses(queue.take(2, 10))).toEqual(["c", "a"]) // sent: a 0, c 0, b 1
    expect(addresses(queue.take(3, 10))).toEqual(["c", "b", "a"]) // all sent once
    expect(queue.take(0, 10)).toEqual([])
    expect(queue.size).toBe(3)
  })

  it.prop(
    "stays within its bound and never sends an update more than the limit",
    [
      fc.integer({ min: 1, max: 5 }),
      fc.array(
        fc.oneof(
          fc.record({ op: fc.constant("enqueue" as const), address: fc.constantFrom("a", "b", "c", "d", "e", "f", "g") }),
          fc.record({ op: fc.constant("take" as const), max: fc.integer({ min: 0, max: 4 }), clusterSize: fc.integer({ min: 0, max: 20 }) })
        ),
        { maxLength: 200 }
      )
    ],
    ([maxQueued, ops]) => {
      const queue = new GossipQueue(maxQueued)
      const sent = new Map<MemberUpdate, number>()
      for (const o of ops) {
        if (o.op === "enqueue") {
          queue.enqueue(alive(o.address))
        } else {
          const taken = queue.take(o.max, o.clusterSize)
          expect(taken.length).toBeLessThanOrEqual(o.max)
          expect(new Set(addresses(taken)).size).toBe(taken.length)
          for (const update of taken) {
            const times = (sent.get(update) ?? 0) + 1
            sent.set(update, times)
            expect(times).toBeLessThanOrEqual(retransmitLimit(o.clusterSize))
          }
        }
        expect(queue.size).toBeLessThanOrEqual(maxQueued)
      }
    }
  )
})
