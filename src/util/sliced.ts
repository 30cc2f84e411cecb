import { Effect } from "effect"

/** Records handled between two yields to the event loop. */
const SLICE = 8192

/**
 * Runs `visit` over `items` (an array, or a lazy pass over the store) a
 * slice at a time, yielding between slices, so that a pass over a large
 * store (hashing a million keys takes about a second) never holds the event
 * loop for long: client calls are served in between.
 */
export const forEachSliced = <A>(items: Iterable<A>, visit: (item: A) => void): Effect.Effect<void> =>
  Effect.gen(function*() {
    let inSlice = 0
    for (const item of items) {
      if (inSlice === SLICE) {
        yield* Effect.yieldNow()
        inSlice = 0
      }
      visit(item)
      inSlice++
    }
  })

/** The items that satisfy `keep`, computed a slice at a time (see `forEachSliced`). */
export const filterSliced = <A>(items: Iterable<A>, keep: (item: A) => boolean): Effect.Effect<Array<A>> =>
  Effect.suspend(() => {
    const kept: Array<A> = []
    return Effect.as(forEachSliced(items, (item) => {
      if (keep(item)) kept.push(item)
    }), kept)
  })
