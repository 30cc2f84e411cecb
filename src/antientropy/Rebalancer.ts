import { Duration, Effect, Schedule, Stream } from "effect"
import { NodeConfig } from "../config/NodeConfig.js"
import { Membership } from "../membership/Membership.js"
import { PeerClient } from "../peer/PeerClient.js"
import type { ReplicaReply } from "../replication/protocol.js"
import type { PeerError } from "../peer/PeerError.js"
import { HashRing } from "../ring/HashRing.js"
import { Ring } from "../ring/Ring.js"
import type { Entry, Tombstone } from "../store/entry.js"
import { Store } from "../store/ShardedStore.js"
import { Metrics, type MovementKind } from "../telemetry/Metrics.js"
import { Readiness } from "./Readiness.js"
import { filterSliced } from "./sliced.js"
import { toWrite, wireBytes } from "./Sync.js"

/** Records sent per round: bounds memory and the burst on peers. */
const PUSH_CHUNK = 2048

type Record = readonly [string, Entry | Tombstone]

/** An owner confirms a record it applied or already holds newer; NotReady or an error is no confirmation. */
const confirms = (reply: ReplicaReply | PeerError) => reply._tag === "Applied" || reply._tag === "Stale"

/**
 * Pushes data to owners that lack it, the complement of `Sync`'s pulls:
 *
 * - Release: records of keys this node no longer replicates (after a join,
 *   or after it regained ranges it had released) are pushed to their current
 *   owners and dropped here once every owner has confirmed them as a voting
 *   replica. This runs every ANTI_ENTROPY_INTERVAL while such records may
 *   remain, so every key ends on exactly its owners; a sweep stops at the
 *   first refusal (an owner still pulling) and the next one resumes.
 * - Hand-off: on graceful shutdown (after the gRPC server has drained, before
 *   SWIM announces the leave) the node stops voting, then pushes every record
 *   to the members that replicate it on the ring without this node, waiting
 *   up to HANDOFF_TIMEOUT for their confirmations.
 */
export class Rebalancer extends Effect.Service<Rebalancer>()("cache/antientropy/Rebalancer", {
  scoped: Effect.gen(function*() {
    const config = yield* NodeConfig
    const ring = yield* Ring
    const store = yield* Store
    const peers = yield* PeerClient
    const readiness = yield* Readiness
    const membership = yield* Membership
    const metrics = yield* Metrics
    const self = membership.self

    /**
     * Sends each record to `targetsOf(record)`; resolves when every send is
     * answered, with the records that every target confirmed.
     */
    const sendChunk = (records: ReadonlyArray<Record>, targetsOf: (key: string) => ReadonlyArray<string>) =>
      Effect.async<{ sent: number; bytes: number; confirmed: number; failed: number; complete: Array<Record> }>((resume) => {
        const tally = { sent: 0, bytes: 0, confirmed: 0, failed: 0, complete: [] as Array<Record> }
        let pending = 0
        const done = () => {
          if (pending === 0) resume(Effect.succeed(tally))
        }
        for (const entry of records) {
          const [key, record] = entry
          const targets = targetsOf(key)
          if (targets.length === 0) tally.complete.push(entry) // nobody left to confirm
          let unconfirmed = targets.length
          const write = toWrite(record)
          const bytes = wireBytes({ key, write })
          for (const target of targets) {
            pending++
            tally.sent++
            tally.bytes += bytes
            peers.replicate(target, { key, write }, (reply) => {
              if (confirms(reply)) {
                tally.confirmed++
                if (--unconfirmed === 0) tally.complete.push(entry)
              } else {
                tally.failed++
              }
              pending--
              done()
            })
          }
        }
        done()
      })

    /**
     * Pushes records chunk by chunk. With `stopOnRefusal`, a chunk that some
     * owner did not confirm ends the push: that owner is still pulling or
     * unreachable, and the next sweep tries again rather than resending
     * every record meanwhile.
     */
    const push = (
      records: ReadonlyArray<Record>,
      targetsOf: (key: string) => ReadonlyArray<string>,
      onComplete: (records: ReadonlyArray<Record>) => number,
      stopOnRefusal: boolean,
      kind: MovementKind
    ) =>
      Effect.gen(function*() {
        const report = { records: records.length, sent: 0, confirmed: 0, failed: 0, released: 0 }
        for (let i = 0; i < records.length; i += PUSH_CHUNK) {
          const tally = yield* sendChunk(records.slice(i, i + PUSH_CHUNK), targetsOf)
          metrics.moved(kind, tally.sent, tally.bytes)
          report.sent += tally.sent
          report.confirmed += tally.confirmed
          report.failed += tally.failed
          report.released += onComplete(tally.complete)
          if (stopOnRefusal && tally.failed > 0) break
        }
        return report
      })

    // ---- release

    let mayHoldUnowned = true
    // The last ring on which this node held no key it does not replicate.
    // Owners on both that ring and the current one were voting owners all
    // along and hold every acknowledged write; only the others must confirm.
    let base: HashRing | undefined
    const release = Effect.suspend(() => {
      const current = ring.current()
      // Only a node that holds its own ranges in full releases: otherwise a
      // record here may be the only copy its owners will get.
      if (readiness.synced() !== current || !mayHoldUnowned) return Effect.succeed(undefined)
      return Effect.flatMap(
        filterSliced(store.snapshot(), ([key]) => !current.replicates(self, ring.hash(key))),
        (unowned) => releaseUnowned(current, unowned)
      )
    }).pipe(Effect.tap((report) =>
      report !== undefined && report.records > 0
        ? Effect.logInfo("released keys this node no longer replicates").pipe(Effect.annotateLogs({ ...report }))
        : Effect.void
    ))

    const releaseUnowned = (current: HashRing, unowned: ReadonlyArray<Record>) => {
      const since = base
      const newOwnersOf = (key: string) => {
        const hash = ring.hash(key)
        const owners = current.preferenceList(hash)
        return since === undefined ? owners : owners.filter((owner) => !since.replicates(owner, hash))
      }
      return push(unowned, newOwnersOf, (complete) => {
        // A ring change meanwhile may have given some of these keys back to this node.
        if (ring.current() !== current) return 0
        let released = 0
        for (const [key, record] of complete) if (store.release(key, record)) released++
        return released
      }, true, "release").pipe(Effect.tap((report) =>
        Effect.sync(() => {
          mayHoldUnowned = report.released < report.records
          if (!mayHoldUnowned) base = current
        })
      ))
    }

    yield* Effect.forkScoped(Stream.runForEach(ring.snapshots, () =>
      Effect.sync(() => {
        mayHoldUnowned = true
      })))
    yield* Effect.forkScoped(Effect.repeat(release, Schedule.spaced(config.antiEntropyInterval)))

    // ---- hand-off

    const handOff = Effect.suspend(() => {
      const before = ring.current()
      const remaining = before.members.filter((member) => member !== self)
      if (remaining.length === 0) return Effect.succeed({ records: 0, sent: 0, confirmed: 0, failed: 0, released: 0 })
      const after = HashRing.build(remaining, { vnodes: config.vnodes, replicas: config.replicationFactor, hash: ring.hash })
      const newOwners = (key: string) => {
        const hash = ring.hash(key)
        const owners = before.preferenceList(hash)
        return after.preferenceList(hash).filter((member) => !owners.includes(member))
      }
      return push(store.snapshot(), newOwners, () => 0, false, "handoff")
    })

    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
        // From here on this node's answers do not count, so every write a
        // quorum acknowledges from now on reaches owners that stay.
        yield* readiness.beginLeaving
        const started = yield* Effect.clockWith((clock) => clock.currentTimeMillis)
        // Finalizers are uninterruptible; the hand-off must be, for its timeout to end it.
        const report = yield* handOff.pipe(Effect.interruptible, Effect.timeoutOption(config.handoffTimeout))
        const elapsedMs = (yield* Effect.clockWith((clock) => clock.currentTimeMillis)) - started
        if (report._tag === "None") {
          yield* Effect.logWarning("hand-off timed out; leaving anyway").pipe(
            Effect.annotateLogs({ timeoutMs: Duration.toMillis(config.handoffTimeout) })
          )
        } else if (report.value.records > 0) {
          yield* Effect.logInfo("handed off data to the new owners").pipe(Effect.annotateLogs({ ...report.value, elapsedMs }))
        }
      })
    )
    return {} as const
  })
}) {}
