import { Chunk, Duration, Effect, Option, Schedule, Stream } from "effect"
import { Hlc } from "../clock/Hlc.js"
import * as V from "../clock/version.js"
import { NodeConfig } from "../config/NodeConfig.js"
import { formatHostPort } from "../config/parse.js"
import { Membership } from "../membership/Membership.js"
import { PeerClient, type PullChunk, type PulledRecord, type PullRequest } from "../peer/PeerClient.js"
import { TokenBucket } from "../ratelimit/tokenBucket.js"
import { Replication } from "../replication/Coordinator.js"
import type { HashRing } from "../ring/HashRing.js"
import { Ring } from "../ring/Ring.js"
import { Entry, keyBytes, type Tombstone, valueBytes, type Write } from "../store/entry.js"
import { Store } from "../store/ShardedStore.js"
import { Metrics } from "../telemetry/Metrics.js"
import { Telemetry } from "../telemetry/Telemetry.js"
import { RangeSet } from "./ArcTrees.js"
import type { HashRange } from "./MerkleTree.js"
import { gainedRanges, gainsRanges, pullCovers } from "./ranges.js"
import { Readiness } from "./Readiness.js"

/** Records per streamed chunk at most. */
const CHUNK_RECORDS = 512
/** Bytes a record costs on the wire besides its key and value (version, framing). */
const RECORD_WIRE_OVERHEAD = 40
/** Peers pulled from at once. */
const PULL_CONCURRENCY = 4
/** Pause before pulling again when a round could not cover every range. */
const RETRY_PAUSE = Duration.seconds(1)

export const toWrite = (record: Entry | Tombstone): Write =>
  record instanceof Entry
    ? { version: V.copy(record), value: record.value, expiresAtMs: record.expiresAtMs }
    : { version: V.copy(record), value: undefined, expiresAtMs: 0 }

/** About what a record costs on the wire: key, value, version and framing. */
export const wireBytes = ({ key, write }: PulledRecord) =>
  keyBytes(key) + (write.value === undefined ? 0 : valueBytes(write.value)) + RECORD_WIRE_OVERHEAD

/** The wire bytes of some records. */
export const wireBytesOf = (records: ReadonlyArray<PulledRecord>): number => {
  let bytes = 0
  for (const record of records) bytes += wireBytes(record)
  return bytes
}

/** Splits records into chunks of at most CHUNK_RECORDS records and `maxBytes` bytes (at least one record each). */
export const chunksOf = (records: ReadonlyArray<PulledRecord>, maxBytes: number): Array<{ records: Array<PulledRecord>; bytes: number }> => {
  const chunks: Array<{ records: Array<PulledRecord>; bytes: number }> = []
  let current = { records: [] as Array<PulledRecord>, bytes: 0 }
  for (const record of records) {
    const bytes = wireBytes(record)
    if (current.records.length > 0 && (current.records.length >= CHUNK_RECORDS || current.bytes + bytes > maxBytes)) {
      chunks.push(current)
      current = { records: [], bytes: 0 }
    }
    current.records.push(record)
    current.bytes += bytes
  }
  if (current.records.length > 0) chunks.push(current)
  return chunks
}

/**
 * Range movement by pulling. A node pulls the records of the keys it
 * replicates from the other replicas before it votes on them: at start (a
 * new node, or one restarted empty) and whenever a ring change gives it
 * ranges it did not hold (a member left or was removed as dead). Until
 * then it is a pending replica: it applies writes but answers NotReady (see
 * `Readiness`), so quorums never count a copy that may lack acknowledged
 * writes. Pulls are server streams, paced by SYNC_BANDWIDTH on the sending
 * side, with gRPC flow control as back-pressure.
 */
export class Sync extends Effect.Service<Sync>()("cache/antientropy/Sync", {
  scoped: Effect.gen(function*() {
    const config = yield* NodeConfig
    const ring = yield* Ring
    const store = yield* Store
    const hlc = yield* Hlc
    const peers = yield* PeerClient
    const readiness = yield* Readiness
    const replication = yield* Replication
    const membership = yield* Membership
    const metrics = yield* Metrics
    const telemetry = yield* Telemetry
    const clock = yield* Effect.clock
    const nowMs = () => clock.unsafeCurrentTimeMillis()
    const self = formatHostPort(config.addr)
    const hasSeeds = config.peers.some((peer) => formatHostPort(peer) !== self)

    const bucket = config.syncBandwidth > 0 ? new TokenBucket(config.syncBandwidth, config.syncBandwidth, nowMs()) : undefined
    /** Waits until `bytes` more fit in SYNC_BANDWIDTH (shared by every transfer this node sends). */
    const pace = (bytes: number): Effect.Effect<void> =>
      Effect.suspend(() => {
        const waitMs = bucket === undefined ? 0 : bucket.charge(nowMs(), bytes)
        return waitMs > 0 ? Effect.sleep(Duration.millis(waitMs)) : Effect.void
      })
    const maxChunkBytes = Math.floor(config.maxSendMsgBytes / 2)

    // ---- answering pulls

    /**
     * Answers only on the requester's ring: once this node routes with the
     * same members and nothing it routed with another ring is still in
     * flight, every write it coordinates from now on reaches the requester,
     * so the copy misses nothing. A node with another view fails; the
     * requester retries until views agree.
     */
    const fence = (members: ReadonlyArray<string>): Effect.Effect<void, string> =>
      Effect.gen(function*() {
        const sameView = (snapshot: HashRing) => snapshot.hasMembers(members)
        const agreed = yield* ring.snapshots.pipe(Stream.filter(sameView), Stream.runHead, Effect.timeoutOption(config.rpcTimeout))
        if (Option.isNone(agreed)) return yield* Effect.fail(`${self} routes with another ring than [${members.join(",")}]`)
        const drained = yield* replication.drained((snapshot) => !sameView(snapshot)).pipe(Effect.timeoutOption(config.rpcTimeout))
        if (Option.isNone(drained)) return yield* Effect.fail(`${self} still has operations in flight on an older ring`)
      })

    const serve = (request: PullRequest): Stream.Stream<PullChunk, string> =>
      Stream.unwrap(Effect.gen(function*() {
        yield* fence(request.members)
        const wanted = ring.build(request.members)
        const within = request.ranges === undefined || request.ranges.length === 0 ? undefined : new RangeSet(request.ranges)
        const syncedMembers = readiness.synced()?.members ?? []
        // One quick copy of the store, then hashing and filtering a slice at a
        // time: the event loop keeps serving clients between slices.
        const records = Stream.fromIterable(store.snapshot()).pipe(
          Stream.filter(([key]) => {
            const hash = ring.hash(key)
            return wanted.replicates(request.requester, hash) && (within === undefined || within.has(hash))
          }),
          Stream.map(([key, record]): PulledRecord => ({ key, write: toWrite(record) })),
          Stream.mapChunks((slice) => Chunk.fromIterable(chunksOf(Chunk.toReadonlyArray(slice), maxChunkBytes))),
          Stream.filter((chunk) => chunk.records.length > 0),
          Stream.mapEffect((chunk) => {
            metrics.moved("pull_served", chunk.records.length, chunk.bytes)
            return Effect.as(pace(chunk.bytes), { syncedMembers: [], records: chunk.records })
          })
        )
        // The first message carries the synced ring, so there is always one.
        return Stream.concat(Stream.make<Array<PullChunk>>({ syncedMembers, records: [] }), records)
      }))

    // ---- pulling

    /** Applies pulled records; newest wins, so a record older than what is held changes nothing. */
    const apply = (records: ReadonlyArray<PulledRecord>) => {
      for (const { key, write } of records) {
        hlc.observe(write.version)
        store.apply(key, write) // newest wins; Stale just means we already hold newer
      }
    }

    /** Pulls what `source` holds for this node on `target` (within `ranges`, if given); None when the stream did not finish. */
    const pullFrom = (source: string, target: HashRing, ranges: ReadonlyArray<HashRange> | undefined) =>
      peers.pull(source, { requester: self, members: target.members, ...(ranges === undefined ? {} : { ranges }) }).pipe(
        Stream.runFold({ first: true, synced: undefined as HashRing | undefined, records: 0, bytes: 0 }, (acc, chunk) => {
          if (acc.first && chunk.syncedMembers.length > 0) acc.synced = ring.build(chunk.syncedMembers)
          acc.first = false
          apply(chunk.records)
          acc.records += chunk.records.length
          acc.bytes += wireBytesOf(chunk.records)
          return acc
        }),
        Effect.map((acc) => ({ source, synced: acc.synced, records: acc.records, bytes: acc.bytes })),
        Effect.tapError((error) => Effect.logDebug("pull failed").pipe(Effect.annotateLogs({ source, reason: error.message }))),
        Effect.option
      )

    /** One round: pull from every other member, then check that every range pulled is covered. */
    const pullRound = (target: HashRing, ranges: ReadonlyArray<HashRange> | undefined) =>
      Effect.gen(function*() {
        const sources = target.members.filter((member) => member !== self)
        const results = yield* Effect.forEach(sources, (source) => pullFrom(source, target, ranges), {
          concurrency: PULL_CONCURRENCY
        })
        const answered = new Map<string, HashRing | undefined>()
        let records = 0
        let bytes = 0
        for (const result of results) {
          if (Option.isNone(result)) continue
          answered.set(result.value.source, result.value.synced)
          records += result.value.records
          bytes += result.value.bytes
        }
        metrics.moved("sync_pulled", records, bytes)
        if (!pullCovers(target, self, answered, ranges === undefined ? undefined : new RangeSet(ranges))) {
          return yield* Effect.fail(sources.filter((source) => !answered.has(source)))
        }
        return { sources: answered.size, records, bytes }
      })

    /** Brings this node's voting ranges up to `next`, pulling first when `next` gives it new ones. */
    const follow = (next: HashRing) =>
      Effect.gen(function*() {
        const synced = readiness.synced()
        if (!gainsRanges(synced, next, self)) return yield* readiness.markSynced(next)
        // Alone with peers to join: this may be a restart cut off from the
        // others, not a new cluster, so it must not vote on an empty store.
        if (next.size === 1 && hasSeeds) return
        // Only the ranges gained, when some are held in full already.
        const ranges = synced === undefined ? undefined : gainedRanges(synced, next, self)
        const started = nowMs()
        yield* Effect.logInfo("pulling ranges before voting on them").pipe(
          Effect.annotateLogs({ members: next.members.join(","), ranges: ranges?.length ?? "all" })
        )
        const round = pullRound(next, ranges)
        const traced = telemetry.tracing && telemetry.sample(undefined)
        const report = yield* (traced ? Effect.withSpan(round, "sync pull", { root: true, captureStackTrace: false }) : round).pipe(
          Effect.tapError((missing) =>
            Effect.logWarning("some ranges lack answers from enough replicas; pulling again").pipe(
              Effect.annotateLogs({ unanswered: missing.join(",") })
            )
          ),
          Effect.retry(Schedule.spaced(RETRY_PAUSE))
        )
        yield* readiness.markSynced(next)
        yield* Effect.logInfo("synced: voting on its ranges").pipe(
          Effect.annotateLogs({ ...report, members: next.size, elapsedMs: nowMs() - started })
        )
      })

    // Declared dead by the others: they may have moved this node's keys
    // elsewhere meanwhile, so it pulls everything again before it votes.
    const afterDeath = membership.declaredDead.pipe(
      Stream.mapEffect(() =>
        Effect.as(
          Effect.zipRight(readiness.markUnsynced, Effect.logWarning("declared dead by others: pulling every range again")),
          ring.current()
        )
      )
    )
    // A newer ring abandons a pull in progress and starts over against it.
    yield* Effect.forkScoped(
      Stream.merge(ring.snapshots, afterDeath).pipe(
        Stream.flatMap((next) => Stream.fromEffect(follow(next)), { switch: true }),
        Stream.runDrain
      )
    )

    return { serve, apply } as const
  })
}) {}
