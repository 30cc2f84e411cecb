import { Cause, type Duration, Effect, Fiber, type Option, type Schedule } from "effect"
import type { Metrics } from "./Metrics.js"

/**
 * One step of a background loop that cannot take the loop down: a failure
 * or a defect (a bug, a malformed message that slipped through) is logged
 * at warn with the loop's name and counted in
 * `cache_background_failures_total`, and the step counts as done.
 */
export const survive = <A, E, R>(loop: string, metrics: Metrics, step: Effect.Effect<A, E, R>): Effect.Effect<void, never, R> =>
  step.pipe(
    Effect.asVoid,
    Effect.catchAllCause((cause) =>
      Cause.isInterruptedOnly(cause)
        ? Effect.failCause(cause as Cause.Cause<never>)
        : Effect.zipRight(
          Effect.sync(() => metrics.backgroundFailure(loop)),
          Effect.logWarning("background step failed; going on").pipe(Effect.annotateLogs({ loop, cause: Cause.pretty(cause) }))
        )
    )
  )

/** Repeats `step` on `schedule` for as long as the scope lives; no failed step ends it. */
export const backgroundLoop = <A, E, R, Out, R2>(
  loop: string,
  metrics: Metrics,
  step: Effect.Effect<A, E, R>,
  schedule: Schedule.Schedule<Out, void, R2>
): Effect.Effect<void, never, R | R2> => Effect.asVoid(Effect.repeat(survive(loop, metrics, step), schedule))

/**
 * Runs `effect` from a finalizer, cut off after `timeout`. A finalizer runs
 * after its fiber was interrupted: making a wait there interruptible (so a
 * timeout can end it) would let that pending interruption end it at once.
 * So the wait runs in a fiber of its own, where the timeout works, and the
 * finalizer waits for that fiber.
 */
export const inShutdown = <A, E>(effect: Effect.Effect<A, E>, timeout: Duration.DurationInput): Effect.Effect<Option.Option<A>, E> =>
  // A fiber forked from a finalizer inherits its uninterruptibility: made interruptible, its timeout can cut it.
  Effect.flatMap(Effect.forkDaemon(Effect.interruptible(Effect.timeoutOption(effect, timeout))), Fiber.join)
