import { describe, expect, it } from "vitest"
import { PullResponse } from "../../src/generated/cluster/v1/cluster.js"
import { decodePullChunk, encodePullChunk } from "../../src/peer/codec.js"
import { FLOORS_PER_CHUNK } from "../../src/protocol/movement.js"
import { FORGETTING_BUCKETS } from "../../src/store/forgetting.js"

const v = (hlc: number) => ({ hlc, nodeId: 3, generation: 4 })
const roundTrip = (message: PullResponse) => decodePullChunk(PullResponse.decode(PullResponse.encode(message).finish()))

describe("pull chunk codec", () => {
  it("carries a source's floors through the wire unchanged", () => {
    const floors = [{ bucket: 0, forgotten: v(5), collected: v(0) }, { bucket: FORGETTING_BUCKETS - 1, forgotten: v(0), collected: v(9) }]
    const chunk = roundTrip(encodePullChunk({ records: [], floors }))
    expect(chunk.floors).toEqual(floors)
    expect(roundTrip(encodePullChunk({ records: [] })).floors).toBeUndefined()
  })

  it("drops floors of buckets that do not exist and any beyond one message's share", () => {
    const hostile = Array.from({ length: FLOORS_PER_CHUNK + 10 }, (_, i) => ({ bucket: i === 0 ? FORGETTING_BUCKETS + 5 : i, forgotten: v(1), collected: v(1) }))
    const chunk = roundTrip(encodePullChunk({ records: [], floors: hostile }))
    expect(chunk.floors).toHaveLength(FLOORS_PER_CHUNK - 1)
    expect(chunk.floors!.every(({ bucket }) => bucket < FORGETTING_BUCKETS)).toBe(true)
  })
})
