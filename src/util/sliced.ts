import { Effect } from "effect"

/** Records handled between two yields to the event loop. */
const SLICE = 8192

/**
 * Runs `visit` over `items` a slice at a time, yielding between slices, so
 * that a pass over a large store (hashing a million keys takes about a
 * second) never holds the event loop for long: client calls are served in
 * between.
 */
export const forEachSliced = <A>(items: ReadonlyArray<A>, visit: (item: A) => void): Effect.Effect<void> =>
  Effect.gen(function*() {
    for (let start = 0; start < items.length; start += SLICE) {
      const end = Math.min(items.length, start + SLICE)
      for (let i = start; i < end; i++) visit(items[i]!)
      if (end < items.length) yield* Effect.yieldNow()
    }
  })

/** The items that satisfy `keep`, computed a slice at a time (see `forEachSliced`). */
export const filterSliced = <A>(items: ReadonlyArray<A>, keep: (item: A) => boolean): Effect.Effect<Array<A>> =>
  Effect.suspend(() => {
    const kept: Array<A> = []
    return Effect.as(forEachSliced(items, (item) => {
      if (keep(item)) kept.push(item)
    }), kept)
  })
