import { Effect, Layer, Stream, SubscriptionRef } from "effect"
import { NodeConfig } from "../config/NodeConfig.js"
import { Membership } from "../membership/Membership.js"
import { HashRing } from "./HashRing.js"
import { type Hash32, loadXxHash32 } from "./keyHash.js"

/** Virtual nodes per member unless `VNODES` says otherwise. */
export const DEFAULT_VNODES = 256

const make = (members: ReadonlyArray<string>, changes: Stream.Stream<ReadonlyArray<string>>) =>
  Effect.gen(function*() {
    const config = yield* NodeConfig
    const hash: Hash32 = yield* Effect.promise(loadXxHash32)
    const build = (current: ReadonlyArray<string>) =>
      HashRing.build(current, { vnodes: config.vnodes, replicas: config.replicationFactor, hash })
    // The snapshot is swapped whole; readers take it without a lock or an Effect.
    let snapshot = build(members)
    // Counts this node's ring changes: a local epoch for operators, not agreed across the cluster.
    let epoch = 0
    const snapshots = yield* SubscriptionRef.make(snapshot)
    yield* Effect.forkScoped(Stream.runForEach(changes, (next) =>
      Effect.suspend(() => {
        snapshot = build(next)
        epoch++
        return Effect.zipRight(
          SubscriptionRef.set(snapshots, snapshot),
          Effect.logInfo("ring changed").pipe(Effect.annotateLogs({ members: next.join(","), epoch }))
        )
      })))
    return {
      current: (): HashRing => snapshot,
      /** How many times this node's ring has changed since it started. */
      epoch: (): number => epoch,
      /** Ring snapshots as they change (the current one first), for data movement. */
      snapshots: snapshots.changes as Stream.Stream<HashRing>,
      /** A ring of other members with this node's settings (another node's view). */
      build,
      hash
    } as const
  })

/**
 * The consistent-hash ring of the current members, rebuilt as an immutable
 * snapshot whenever membership changes, so a lookup is plain synchronous code.
 */
export class Ring extends Effect.Service<Ring>()("cache/ring/Ring", {
  scoped: Effect.gen(function*() {
    const membership = yield* Membership
    return yield* make(membership.ringMembers(), membership.ringChanges)
  })
}) {
  /** A ring of fixed members, for tests. */
  static readonly layerStatic = (members: ReadonlyArray<string>) =>
    Layer.scoped(Ring, Effect.map(make(members, Stream.never), (impl) => new Ring(impl)))
}
