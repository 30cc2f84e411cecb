import type { RingSettings } from "../src/placement/ConfigView.js"
import type { MemberId } from "../src/protocol/placement.js"
import { loadXxHash32 } from "../src/ring/keyHash.js"

/** Member `i` of a test cluster: 10.0.0.i:8080, generation 1 unless said. */
export const member = (i: number, generation = 1): MemberId => ({ address: `10.0.0.${i}:8080`, generation })

export const membersOf = (...ids: ReadonlyArray<number>): Array<MemberId> => ids.map((i) => member(i))

/** Small rings (16 tokens a member) with the real hash: quick to build, uneven enough to matter. */
export const testRingSettings = async (): Promise<RingSettings> => ({ vnodes: 16, replicas: 3, hash: await loadXxHash32() })
