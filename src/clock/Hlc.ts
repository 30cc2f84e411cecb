import { Effect, Layer, Random } from "effect"
import { NodeConfig } from "../config/NodeConfig.js"
import { formatHostPort } from "../config/parse.js"
import { fnv1a32 } from "../store/hash.js"
import * as hlc from "./timestamp.js"
import type { Version } from "./version.js"

const make = (nodeId: number, generation: number) =>
  Effect.map(Effect.clock, (clock) => {
    let last = 0
    return {
      nodeId,
      generation,
      /** A version newer than every one handed out or observed here. */
      next: (): Version => {
        last = hlc.tick(last, clock.unsafeCurrentTimeMillis())
        return { hlc: last, nodeId, generation }
      },
      /** Moves the clock past a version seen elsewhere. */
      observe: (seen: Version): void => {
        last = hlc.observe(last, seen.hlc)
      }
    } as const
  })

/**
 * This node's hybrid logical clock. `next` hands out versions that are
 * unique and increasing; `observe` moves the clock past a version seen
 * elsewhere so that the next write here is newer than it.
 */
export class Hlc extends Effect.Service<Hlc>()("cache/clock/Hlc", {
  effect: Effect.gen(function*() {
    const config = yield* NodeConfig
    // Both fit in 31 bits so that V8 keeps them as small integers inside
    // every stored entry instead of boxing them (32 bytes an entry saved).
    const nodeId = fnv1a32(formatHostPort(config.addr)) >>> 1
    const generation = yield* Random.nextIntBetween(1, 0x7fffffff)
    return yield* make(nodeId, generation)
  })
}) {
  /** A clock with a fixed identity, for tests. */
  static readonly layerFixed = (nodeId: number, generation: number) =>
    Layer.effect(Hlc, Effect.map(make(nodeId, generation), (impl) => new Hlc(impl)))
}
