import { Deferred, Effect } from "effect"

/**
 * A request to stop the node gracefully from inside (the admin API's
 * `Leave`). The program waits on `requested` and then closes its scope,
 * exactly as a SIGTERM does: drain, hand off, leave.
 */
export class Shutdown extends Effect.Service<Shutdown>()("cache/admin/Shutdown", {
  effect: Effect.map(Deferred.make<void>(), (requested) => ({
    request: Effect.asVoid(Deferred.succeed(requested, undefined)),
    requested: Deferred.await(requested)
  }))
}) {}
