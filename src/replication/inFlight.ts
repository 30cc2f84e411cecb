import { Duration, Effect, Schedule } from "effect"
import type { HashRing } from "../ring/HashRing.js"

/** How often `drained` looks again. */
const DRAIN_POLL = Duration.millis(5)

/**
 * Operations in flight per ring snapshot they were routed with, so that a
 * pull can wait until nothing is still being written the old way. One
 * counter per snapshot; the current one is kept at hand, so the request
 * path does no map lookups while the ring stays the same.
 */
export const makeInFlight = (current: () => HashRing) => {
  const counters = new Map<HashRing, { count: number }>()
  let latest: { ring: HashRing; counter: { count: number } } | undefined
  const counterOf = (snapshot: HashRing) => {
    if (latest?.ring === snapshot) return latest.counter
    // The ring changed: forget older snapshots nothing is routed with any more.
    for (const [old, { count }] of counters) if (count === 0 && old !== snapshot) counters.delete(old)
    let counter = counters.get(snapshot)
    if (counter === undefined) counters.set(snapshot, counter = { count: 0 })
    latest = { ring: snapshot, counter }
    return counter
  }
  const busyWith = (routedWith: (snapshot: HashRing) => boolean) =>
    [...counters].some(([snapshot, counter]) => counter.count > 0 && routedWith(snapshot))

  return {
    /** Runs `use` with the current ring, counted as in flight on it until it ends. */
    tracked: <A, E>(use: (snapshot: HashRing) => Effect.Effect<A, E>): Effect.Effect<A, E> =>
      Effect.suspend(() => {
        const snapshot = current()
        const counter = counterOf(snapshot)
        counter.count++
        return Effect.ensuring(
          use(snapshot),
          Effect.sync(() => {
            if (--counter.count === 0 && snapshot !== current()) counters.delete(snapshot)
          })
        )
      }),
    /** Waits until no operation routed with a ring matching `routedWith` is in flight. */
    drained: (routedWith: (snapshot: HashRing) => boolean): Effect.Effect<void> =>
      Effect.repeat(Effect.sync(() => busyWith(routedWith)), {
        while: (busy) => busy,
        schedule: Schedule.spaced(DRAIN_POLL)
      }).pipe(Effect.asVoid)
  } as const
}
