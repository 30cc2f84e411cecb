import { Effect } from "effect"

/**
 * An Effect whose result comes through a callback, started when the Effect
 * runs. A result delivered while `start` is still running (every replica
 * asked was the local one) is returned as a plain success: no async
 * boundary, so a one-node call finishes without going through the
 * scheduler. The first result wins.
 */
export const settled = <A>(start: (settle: (value: A) => void) => void): Effect.Effect<A> =>
  Effect.suspend(() => {
    let result: { readonly value: A } | undefined
    let resume: ((effect: Effect.Effect<A>) => void) | undefined
    start((value) => {
      if (result !== undefined) return
      result = { value }
      resume?.(Effect.succeed(value))
    })
    if (result !== undefined) return Effect.succeed(result.value)
    return Effect.async<A>((callback) => {
      if (result !== undefined) callback(Effect.succeed(result.value))
      else resume = callback
    })
  })
