import { Duration, Effect } from "effect"
import * as V from "../clock/version.js"
import { NodeConfig } from "../config/NodeConfig.js"
import { Membership } from "../membership/Membership.js"
import { PeerClient } from "../peer/PeerClient.js"
import type { ReplicaRequest } from "../replication/protocol.js"
import { HashRing } from "../ring/HashRing.js"
import { Ring } from "../ring/Ring.js"
import { Entry, type Tombstone, type Write } from "../store/entry.js"
import { Store } from "../store/ShardedStore.js"

/** Records sent per round of a hand-off: bounds memory and the burst on peers. */
const HANDOFF_CHUNK = 2048

const toWrite = (record: Entry | Tombstone): Write =>
  record instanceof Entry
    ? { version: V.copy(record), value: record.value, expiresAtMs: record.expiresAtMs }
    : { version: V.copy(record), value: undefined, expiresAtMs: 0 }

/** What a hand-off did, for the log and tests. */
export interface HandoffReport {
  readonly records: number
  readonly sent: number
  readonly confirmed: number
  readonly failed: number
}

/**
 * Graceful leave, data side: when the node shuts down (after its gRPC
 * server has drained, before SWIM announces the leave) it sends every
 * record it holds to the members that will replicate that key once it is
 * gone and do not already, and waits for them to confirm, up to
 * HANDOFF_TIMEOUT. A key that had its acknowledged write on this node and
 * only one other therefore still has it on a quorum after the leave.
 */
export class Handoff extends Effect.Service<Handoff>()("cache/antientropy/Handoff", {
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

    const handOff = Effect.gen(function*() {
      const before = ring.current()
      const remaining = before.members.filter((member) => member !== self)
      if (remaining.length === 0) return { records: 0, sent: 0, confirmed: 0, failed: 0 }
      const after = HashRing.build(remaining, { vnodes: config.vnodes, replicas: config.replicationFactor, hash: ring.hash })
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
