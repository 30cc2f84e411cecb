import { Effect, Schedule } from "effect"
import { NodeConfig } from "../config/NodeConfig.js"
import { PeerClient } from "../peer/PeerClient.js"
import { replicateAll } from "../peer/fanout.js"
import type { ConfigView } from "../placement/ConfigView.js"
import { Ring } from "../placement/Ring.js"
import { type Tombstone, toWrite } from "../store/entry.js"
import { Store } from "../store/ShardedStore.js"
import { backgroundLoop } from "../telemetry/background.js"
import { Metrics } from "../telemetry/Metrics.js"
import { confirmsTombstone } from "./confirmation.js"

/** Tombstones one pass confirms at most: bounds the replica writes a pass sends. */
const MAX_PER_PASS = 1024


/**
 * Collects tombstones only once every current replica of their key holds
 * them (S5; ScyllaDB's repair-based tombstone GC). Every
 * ANTI_ENTROPY_INTERVAL, on a stable agreed ring this node is a member of,
 * the tombstones older than TOMBSTONE_GRACE are sent again, as replica
 * writes at the ring's epoch, to the key's other replicas: a replica that
 * missed the deletion applies it now, one that holds it (or anything newer)
 * says so. A tombstone every replica acknowledged is collected; the others
 * wait for the next pass, however long a replica stays cut off (SWIM's view
 * is not consulted: a member it has declared dead may answer again before
 * it is removed).
 *
 * Collecting raises the bucket's collected floor, so a late write older
 * than the deletion is refused rather than bringing the key back, and a
 * node that takes the range over later inherits that floor with its pull.
 */
export class TombstoneCollector extends Effect.Service<TombstoneCollector>()("cache/antientropy/TombstoneCollector", {
  scoped: Effect.gen(function*() {
    const config = yield* NodeConfig
    const ring = yield* Ring
    const store = yield* Store
    const peers = yield* PeerClient
    const metrics = yield* Metrics

    /** The candidates each of whose other replicas acknowledged it at `view`'s epoch. */
    const confirm = (view: ConfigView, candidates: ReadonlyArray<readonly [string, Tombstone]>) => {
      const self = ring.identity().address
      const asked = candidates.map((candidate) => ({
        candidate,
        others: view.readReplicas(ring.hash(candidate[0])).filter((address) => address !== self)
      }))
      const calls = asked.flatMap(({ candidate: [key, tombstone], others }) => {
        const write = toWrite(tombstone)
        return others.map((peer) => ({ peer, request: { key, write, epoch: view.epoch } }))
      })
      return Effect.map(replicateAll(peers.replicate, calls), (answers) => {
        let next = 0
        return asked.filter(({ others }) => answers.slice(next, (next += others.length)).every(confirmsTombstone)).map(({ candidate }) => candidate)
      })
    }

    const pass = Effect.gen(function*() {
      const view = ring.current()
      if (view === undefined || !view.stable || !view.isMember(ring.identity())) return 0
      const candidates = store.graceElapsed().slice(0, MAX_PER_PASS)
      if (candidates.length === 0) return 0
      const confirmed = yield* confirm(view, candidates)
      // A newer ring may name replicas that were not asked: wait for the next pass.
      if (ring.current() !== view) return 0
      let collected = 0
      for (const [key, tombstone] of confirmed) if (store.collect(key, tombstone)) collected++
      if (collected > 0) {
        yield* Effect.logDebug("collected tombstones every replica holds").pipe(
          Effect.annotateLogs({ collected, waiting: candidates.length - collected, epoch: view.epoch })
        )
      }
      return collected
    })

    yield* Effect.forkScoped(backgroundLoop("tombstone collection", metrics, pass, Schedule.spaced(config.antiEntropyInterval)))
    return { pass } as const
  })
}) {}
