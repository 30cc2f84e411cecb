import { Duration, Effect, Layer, Random } from "effect"
import { NodeConfig, selfAddress } from "../config/NodeConfig.js"
import { fnv1a32 } from "../util/hash.js"
import * as hlc from "./timestamp.js"
import type { Version } from "./version.js"

const make = (nodeId: number, generation: number, maxOffsetMs: number) =>
  Effect.map(Effect.clock, (clock) => {
    let last = 0
    /** Why `seen` must not be believed here, or undefined: its time lies too far ahead of this clock. */
    const problem = (seen: Version): string | undefined => {
      // Not past this clock: fine without reading the wall clock (the common case).
      if (seen.hlc <= last && seen.hlc >= 0) return undefined
      const wallMs = clock.unsafeCurrentTimeMillis()
      const aheadMs = hlc.wallMsOf(seen.hlc) - wallMs
      return aheadMs > maxOffsetMs || !Number.isSafeInteger(seen.hlc)
        ? `version at ${hlc.describe(seen.hlc)} is ${Math.round(aheadMs)} ms ahead of this clock (MAX_CLOCK_OFFSET ${maxOffsetMs} ms)`
        : undefined
    }
    return {
      nodeId,
      generation,
      /** A version newer than every one handed out or observed here. */
      next: (): Version => {
        last = hlc.tick(last, clock.unsafeCurrentTimeMillis())
        return { hlc: last, nodeId, generation }
      },
      problem,
      /**
       * Moves the clock past a version seen elsewhere, unless that version
       * lies further ahead than MAX_CLOCK_OFFSET: one bad clock (or forged
       * version) must not drag every node's time forward.
       */
      observe: (seen: Version): void => {
        if (seen.hlc > last && problem(seen) === undefined) last = hlc.observe(last, seen.hlc)
      }
    } as const
  })

/**
 * This node's hybrid logical clock. `next` hands out versions that are
 * unique and increasing; `observe` moves the clock past a version seen
 * elsewhere so that the next write here is newer than it; `problem` says
 * why a version from elsewhere is too far ahead to be accepted at all.
 */
export class Hlc extends Effect.Service<Hlc>()("cache/clock/Hlc", {
  effect: Effect.gen(function*() {
    const config = yield* NodeConfig
    // Both fit in 31 bits so that V8 keeps them as small integers inside
    // every stored entry instead of boxing them (32 bytes an entry saved).
    const nodeId = fnv1a32(selfAddress(config)) >>> 1
    const generation = yield* Random.nextIntBetween(1, 0x7fffffff)
    return yield* make(nodeId, generation, Duration.toMillis(config.maxClockOffset))
  })
}) {
  /** A clock with a fixed identity, for tests. */
  static readonly layerFixed = (nodeId: number, generation: number, maxOffsetMs = 500) =>
    Layer.effect(Hlc, Effect.map(make(nodeId, generation, maxOffsetMs), (impl) => new Hlc(impl)))
}
