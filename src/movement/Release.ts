import { Effect, Stream } from "effect"
import type { ConfigView } from "../placement/ConfigView.js"
import { Ring } from "../placement/Ring.js"
import { Store } from "../store/ShardedStore.js"
import { survive } from "../telemetry/background.js"
import { Metrics } from "../telemetry/Metrics.js"
import { forEachSliced } from "../util/sliced.js"

/**
 * Drops the records of keys this node no longer replicates, once a stable
 * configuration is agreed: the members that replicate them now pulled them
 * before reads moved to them (S3), and this node refuses every operation
 * routed with the configurations that still named it. A node that is no
 * longer a member at all drops everything. Dropping does not raise the
 * store's forgotten watermark: nothing was forgotten, only moved.
 */
export class Release extends Effect.Service<Release>()("cache/movement/Release", {
  scoped: Effect.gen(function*() {
    const ring = yield* Ring
    const store = yield* Store
    const metrics = yield* Metrics

    const release = (view: ConfigView) =>
      Effect.gen(function*() {
        const self = ring.identity()
        const member = view.isMember(self)
        let released = 0
        yield* forEachSliced(store.live(), ([key, record]) => {
          if (member && view.next.replicates(self.address, ring.hash(key))) return
          // Only a newer configuration may give a key back meanwhile: then keep it.
          if (ring.current() === view && store.release(key, record)) released++
        })
        if (released === 0) return
        yield* Effect.logInfo("released keys this node no longer replicates").pipe(
          Effect.annotateLogs({ epoch: view.epoch, released, member })
        )
      })

    yield* Effect.forkScoped(
      ring.views.pipe(
        Stream.filter((view): view is ConfigView => view !== undefined && (view.stable || !view.participates(ring.identity()))),
        Stream.runForEach((view) => survive("release", metrics, release(view)))
      )
    )
    return {} as const
  })
}) {}
