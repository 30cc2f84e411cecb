import { Duration, Effect } from "effect"

/** A read waiting on replicas beyond its first quorum, and what to do when its delay has passed. */
export interface Speculating {
  readonly dueMs: number
  readonly askRest: () => void
}

/**
 * Watches the reads that wait beyond SPECULATIVE_READ_DELAY: one scoped
 * fiber sweeps them every fifth of the delay while any is waiting, and
 * sleeps on a latch while none is (an idle node does no work). Adding and
 * cancelling are plain calls, made from the replicas' answer callbacks.
 */
export const makeSpeculation = (delay: Duration.Duration) =>
  Effect.gen(function*() {
    const clock = yield* Effect.clock
    const waiting = new Set<Speculating>()
    const delayMs = Duration.toMillis(delay)
    const busy = yield* Effect.makeLatch(false)
    const sweep = Effect.sync(() => {
      const now = clock.unsafeCurrentTimeMillis()
      for (const pending of waiting) {
        if (pending.dueMs > now) continue
        waiting.delete(pending)
        pending.askRest()
      }
      // In the same step as the check, so an add can never fall between them.
      if (waiting.size === 0) busy.unsafeClose()
    })
    const every = Duration.millis(Math.max(1, delayMs / 5))
    yield* Effect.forkScoped(Effect.forever(Effect.zipRight(busy.await, Effect.zipRight(Effect.sleep(every), sweep))))
    return {
      /** Calls `askRest` once the delay has passed, unless cancelled first. */
      schedule: (askRest: () => void): Speculating => {
        const pending = { dueMs: clock.unsafeCurrentTimeMillis() + delayMs, askRest }
        waiting.add(pending)
        busy.unsafeOpen()
        return pending
      },
      cancel: (pending: Speculating): void => {
        waiting.delete(pending)
      }
    } as const
  })
