import { Chunk, Duration, Effect, Option, Stream } from "effect"
import { Hlc } from "../clock/Hlc.js"
import { messageBudgetBytes, NodeConfig } from "../config/NodeConfig.js"
import { PeerClient } from "../peer/PeerClient.js"
import type { ConfigView } from "../placement/ConfigView.js"
import { pullPlan } from "../placement/movement.js"
import { Ring } from "../placement/Ring.js"
import { messagesOf, recordProblem, wireBytes } from "../protocol/limits.js"
import { EpochMismatch, FLOORS_PER_CHUNK, type PullChunk, type PulledRecord, type PullRequest } from "../protocol/movement.js"
import { TokenBucket } from "../ratelimit/tokenBucket.js"
import type { HashRange } from "../ring/hashRange.js"
import { toWrite } from "../store/entry.js"
import type { BucketFloors } from "../store/forgetting.js"
import { Store } from "../store/ShardedStore.js"
import { survive } from "../telemetry/background.js"
import { Metrics } from "../telemetry/Metrics.js"
import { asRootSpan, Telemetry } from "../telemetry/Telemetry.js"
import { RangeSet } from "../ring/rangeSet.js"

/** Records per streamed chunk at most. */
const CHUNK_RECORDS = 512
/** Peers pulled from at once. */
const PULL_CONCURRENCY = 4
/** Pause before pulling again when a round could not cover every range. */
const RETRY_PAUSE = Duration.millis(500)

/** The wire bytes of some records. */
export const wireBytesOf = (records: ReadonlyArray<PulledRecord>): number => {
  let bytes = 0
  for (const record of records) bytes += wireBytes(record)
  return bytes
}

/** Floors in messages of at most FLOORS_PER_CHUNK, sent after every record. */
const floorChunks = (floors: ReadonlyArray<BucketFloors>): Array<PullChunk> => {
  const chunks: Array<PullChunk> = []
  for (let i = 0; i < floors.length; i += FLOORS_PER_CHUNK) chunks.push({ records: [], floors: floors.slice(i, i + FLOORS_PER_CHUNK) })
  return chunks
}

/**
 * Range movement by pulling (S3). When a movement (`writeBoth`) gives this
 * node ranges it did not hold, it pulls them from the previous ring's
 * replicas of those ranges, at the movement's epoch: a source answers only
 * at that epoch, after which it refuses operations routed with older ones,
 * so a copy from enough sources (`needed` of a task) holds every write
 * acknowledged before. Meanwhile the node takes writes for those ranges
 * (new writes need a quorum of the new ring too) but reads do not use it;
 * once every range is covered it reports itself synced, and the leader
 * moves reads to the new ring. Pulls are server streams, paced by
 * SYNC_BANDWIDTH on the sending side, with gRPC flow control as
 * back-pressure.
 */
export class DataMovement extends Effect.Service<DataMovement>()("cache/movement/DataMovement", {
  scoped: Effect.gen(function*() {
    const config = yield* NodeConfig
    const ring = yield* Ring
    const store = yield* Store
    const hlc = yield* Hlc
    const peers = yield* PeerClient
    const metrics = yield* Metrics
    const telemetry = yield* Telemetry
    const clock = yield* Effect.clock
    const nowMs = () => clock.unsafeCurrentTimeMillis()

    const bucket = config.syncBandwidth > 0 ? new TokenBucket(config.syncBandwidth, config.syncBandwidth, nowMs()) : undefined
    /** Waits until `bytes` more fit in SYNC_BANDWIDTH (shared by every transfer this node sends). */
    const pace = (bytes: number): Effect.Effect<void> =>
      Effect.suspend(() => {
        const waitMs = bucket === undefined ? 0 : bucket.charge(nowMs(), bytes)
        return waitMs > 0 ? Effect.sleep(Duration.millis(waitMs)) : Effect.void
      })
    const maxChunkBytes = messageBudgetBytes(config)

    // ---- answering pulls

    /**
     * Answers only at the requester's epoch: when behind, this node learns
     * that configuration from the requester first; when ahead, it refuses,
     * and the requester learns the newer one and pulls again for it.
     */
    const atEpoch = (request: PullRequest): Effect.Effect<void, EpochMismatch> =>
      Effect.gen(function*() {
        if (ring.epoch() < request.epoch) yield* Effect.timeoutOption(ring.learn(request.epoch, request.requester), config.rpcTimeout)
        const epoch = ring.epoch()
        if (epoch !== request.epoch) {
          return yield* new EpochMismatch({ node: ring.identity().address, at: epoch, asked: request.epoch, what: "pull" })
        }
      })

    const serve = (request: PullRequest): Stream.Stream<PullChunk, EpochMismatch> =>
      Stream.unwrap(Effect.gen(function*() {
        yield* atEpoch(request)
        const within = new RangeSet(request.ranges)
        // A lazy pass over the store, hashing and filtering a chunk at a time:
        // the event loop keeps serving clients between chunks. A record sent
        // twice (read meanwhile) is applied once.
        const records = Stream.fromIterable(store.live()).pipe(
          Stream.filter(([key]) => within.has(ring.hash(key))),
          Stream.map(([key, record]): PulledRecord => ({ key, write: toWrite(record) })),
          Stream.mapChunks((slice) => Chunk.fromIterable(messagesOf(Chunk.toReadonlyArray(slice), wireBytes, CHUNK_RECORDS, maxChunkBytes))),
          Stream.filter((chunk) => chunk.items.length > 0),
          Stream.mapEffect((chunk) => {
            metrics.moved("pull_served", chunk.items.length, chunk.bytes)
            return Effect.as(pace(chunk.bytes), { records: chunk.items })
          })
        )
        // The floors come last, read once every record is sent: they cover whatever the
        // source forgot before or while it copied (taking the copy expired what had run out).
        if (request.floors !== true) return records
        return Stream.concat(records, Stream.suspend(() => Stream.fromIterable(floorChunks(store.floors()))))
      }))

    // ---- pulling

    /**
     * Takes on the floors a source sent with a range this node takes over
     * (what the source forgot goes with what it copied); a floor too far
     * ahead of this clock is skipped like a record would be.
     */
    const applyFloors = (floors: ReadonlyArray<BucketFloors>) => {
      const believable = floors.filter((f) => hlc.problem(f.forgotten) === undefined && hlc.problem(f.collected) === undefined)
      if (believable.length < floors.length) metrics.refused(floors.length - believable.length)
      store.mergeFloors(believable)
    }

    /**
     * Applies pulled records; newest wins, so a record older than what is
     * held changes nothing. A record whose version lies too far ahead of
     * this clock, or that breaks the key and value limits, is skipped (and
     * counted), as a replica write would be.
     */
    const apply = (records: ReadonlyArray<PulledRecord>) => {
      let refused = 0
      for (const { key, write } of records) {
        if (hlc.problem(write.version) !== undefined || recordProblem(key, write, config) !== undefined) {
          refused++
          continue
        }
        hlc.observe(write.version)
        store.apply(key, write) // newest wins; Stale just means we already hold newer
      }
      if (refused > 0) metrics.refused(refused)
    }

    /** Pulls `ranges` from `source` at `epoch`; the number of records and bytes, or None when the stream did not finish. */
    const pullFrom = (source: string, epoch: number, ranges: ReadonlyArray<HashRange>) =>
      peers.pull(source, { requester: ring.identity().address, epoch, ranges, floors: true }).pipe(
        Stream.runFold({ records: 0, bytes: 0 }, (acc, chunk) => {
          if (chunk.floors !== undefined) applyFloors(chunk.floors)
          apply(chunk.records)
          acc.records += chunk.records.length
          acc.bytes += wireBytesOf(chunk.records)
          return acc
        }),
        Effect.tapError((error) => Effect.logDebug("pull failed").pipe(Effect.annotateLogs({ source, reason: error.message }))),
        Effect.option
      )

    /**
     * Pulls what `view` gives this node until every task has enough
     * sources, retrying the ones that fail; a source ahead of `view` makes
     * this node learn its ring (and the pull for `view` is then moot).
     */
    const follow = (view: ConfigView) =>
      Effect.gen(function*() {
        const self = ring.identity()
        const tasks = pullPlan(view, self)
        if (tasks.length === 0 || ring.synced() >= view.epoch) return
        const started = nowMs()
        // This node's own copy counts where it is one of the sources.
        const answered = tasks.map((task) => new Set(task.sources.includes(self.address) ? [self.address] : []))
        const covered = () => tasks.every((task, i) => answered[i]!.size >= task.needed)
        const sources = [...new Set(tasks.flatMap((task) => task.sources))].filter((s) => s !== self.address)
        yield* Effect.logInfo("pulling ranges before reads use them").pipe(
          Effect.annotateLogs({ epoch: view.epoch, tasks: tasks.length, sources: sources.join(",") })
        )
        let records = 0
        let bytes = 0
        while (!covered()) {
          if (ring.current() !== view) return
          const pending = sources.filter((source) => tasks.some((task, i) => task.sources.includes(source) && !answered[i]!.has(source)))
          yield* Effect.forEach(pending, (source) => {
            const ranges = tasks.filter((task, i) => task.sources.includes(source) && !answered[i]!.has(source)).flatMap((task) => task.ranges)
            return Effect.map(pullFrom(source, view.epoch, ranges), (result) => {
              if (Option.isNone(result)) return
              records += result.value.records
              bytes += result.value.bytes
              tasks.forEach((task, i) => {
                if (task.sources.includes(source)) answered[i]!.add(source)
              })
            })
          }, { concurrency: PULL_CONCURRENCY, discard: true })
          if (!covered()) yield* Effect.sleep(RETRY_PAUSE)
        }
        metrics.moved("sync_pulled", records, bytes)
        if (ring.current() !== view) return
        // One source's records may have landed before another's floors: drop what those floors say was forgotten.
        const pulled = new RangeSet(tasks.flatMap((task) => task.ranges))
        const dropped = store.dropForgotten((key) => pulled.has(ring.hash(key)))
        yield* ring.markSynced(view.epoch)
        yield* Effect.logInfo("synced: pulled its ranges").pipe(
          Effect.annotateLogs({ epoch: view.epoch, records, bytes, dropped, elapsedMs: nowMs() - started })
        )
      })

    const traced = (view: ConfigView) => asRootSpan(telemetry, "sync pull")(follow(view))
    // A newer configuration abandons a pull in progress and starts over against it.
    yield* Effect.forkScoped(
      ring.views.pipe(
        Stream.filter((view): view is ConfigView => view !== undefined),
        Stream.flatMap((view) => Stream.fromEffect(survive("sync", metrics, traced(view))), { switch: true }),
        Stream.runDrain
      )
    )

    return { serve, apply } as const
  })
}) {}
