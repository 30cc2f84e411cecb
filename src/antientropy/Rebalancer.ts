import { Duration, Effect, Stream } from "effect"
import * as V from "../clock/version.js"
import { NodeConfig } from "../config/NodeConfig.js"
import { Membership } from "../membership/Membership.js"
import { PeerClient } from "../peer/PeerClient.js"
import type { ReplicaRequest } from "../replication/protocol.js"
import { HashRing } from "../ring/HashRing.js"
import { Ring } from "../ring/Ring.js"
import { Entry, type Tombstone, type Write } from "../store/entry.js"
import { Store } from "../store/ShardedStore.js"

/** Records sent per round: bounds memory and the burst on peers. */
const HANDOFF_CHUNK = 2048

const toWrite = (record: Entry | Tombstone): Write =>
  record instanceof Entry
    ? { version: V.copy(record), value: record.value, expiresAtMs: record.expiresAtMs }
    : { version: V.copy(record), value: undefined, expiresAtMs: 0 }

/** What one push did, for the log and tests. */
export interface PushReport {
  readonly records: number
  readonly sent: number
  readonly confirmed: number
  readonly failed: number
}

/**
 * Moves data when the ring changes: every node sends each record it holds
 * to the members that replicate that key after the change and did not
 * before (a node that joined, or the next one along when a member left or
 * was removed as dead), so keys get back to their replication factor.
 * On graceful shutdown (after the gRPC server has drained, before SWIM
 * announces the leave) the node does the same for the ring without itself
 * and waits, up to HANDOFF_TIMEOUT, for the new owners to confirm.
 *
 * Until a push completes, a new owner may be asked for keys it does not
 * hold yet; pending replicas and ring epochs (not built yet) close that gap.
 */
export class Rebalancer extends Effect.Service<Rebalancer>()("cache/antientropy/Rebalancer", {
  scoped: Effect.gen(function*() {
    const config = yield* NodeConfig
    const ring = yield* Ring
    const store = yield* Store
    const peers = yield* PeerClient
    const membership = yield* Membership
    const self = membership.self

    /** Sends one chunk of records to their new owners; resolves when every send is answered. */
    const sendChunk = (records: ReadonlyArray<readonly [string, Entry | Tombstone]>, before: HashRing, after: HashRing) =>
      Effect.async<{ sent: number; confirmed: number; failed: number }>((resume) => {
        const tally = { sent: 0, confirmed: 0, failed: 0 }
        let pending = 0
        const done = () => {
          if (pending === 0) resume(Effect.succeed(tally))
        }
        for (const [key, record] of records) {
          const hash = ring.hash(key)
          const owners = before.preferenceList(hash)
          const request: ReplicaRequest = { key, write: toWrite(record) }
          for (const target of after.preferenceList(hash)) {
            if (owners.includes(target)) continue // already a replica of this key
            pending++
            tally.sent++
            peers.replicate(target, request, (reply) => {
              // Stale is a confirmation too: the new owner already holds something newer.
              if (reply._tag === "Applied" || reply._tag === "Stale") tally.confirmed++
              else tally.failed++
              pending--
              done()
            })
          }
        }
        done()
      })

    /** Sends every record whose owners gained members from `before` to `after` to those members. */
    const push = (before: HashRing, after: HashRing) =>
      Effect.gen(function*() {
        const records = store.snapshot()
        const report = { records: records.length, sent: 0, confirmed: 0, failed: 0 }
        for (let i = 0; i < records.length; i += HANDOFF_CHUNK) {
          const tally = yield* sendChunk(records.slice(i, i + HANDOFF_CHUNK), before, after)
          report.sent += tally.sent
          report.confirmed += tally.confirmed
          report.failed += tally.failed
        }
        return report
      })

    const handOff = Effect.suspend(() => {
      const before = ring.current()
      const remaining = before.members.filter((member) => member !== self)
      if (remaining.length === 0) return Effect.succeed({ records: 0, sent: 0, confirmed: 0, failed: 0 })
      return push(before, HashRing.build(remaining, { vnodes: config.vnodes, replicas: config.replicationFactor, hash: ring.hash }))
    })

    // Follow ring changes, one at a time, each against the ring before it.
    let previous = ring.current()
    yield* Effect.forkScoped(Stream.runForEach(ring.snapshots, (next) =>
      Effect.gen(function*() {
        const before = previous
        previous = next
        if (before === next) return
        const report = yield* push(before, next)
        if (report.sent > 0) yield* Effect.logInfo("rebalanced after a ring change").pipe(Effect.annotateLogs(report))
      })))

    yield* Effect.addFinalizer(() =>
      Effect.gen(function*() {
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
