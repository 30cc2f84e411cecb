import { Effect, Random, Schedule, Stream } from "effect"
import { messageBudgetBytes, NodeConfig, selfAddress } from "../config/NodeConfig.js"
import { PeerClient } from "../peer/PeerClient.js"
import type { PeerError } from "../peer/PeerError.js"
import { replicateAll } from "../peer/fanout.js"
import type { ConfigView } from "../placement/ConfigView.js"
import { Ring } from "../placement/Ring.js"
import { type ArcDigests, type DigestsRequest, EpochMismatch, maxDigestArcs } from "../protocol/movement.js"
import { HashRing } from "../ring/HashRing.js"
import { type Entry, Tombstone, toWrite } from "../store/entry.js"
import { Store } from "../store/ShardedStore.js"
import { backgroundLoop, survive } from "../telemetry/background.js"
import { Metrics } from "../telemetry/Metrics.js"
import { asRootSpan, Telemetry } from "../telemetry/Telemetry.js"
import { RangeSet } from "../ring/rangeSet.js"
import { ArcTrees, leafRange } from "./ArcTrees.js"
import type { HashRange } from "../ring/hashRange.js"
import { differingLeaves, digestEquals, entryDigest } from "./MerkleTree.js"
import { filterSliced, forEachSliced } from "../util/sliced.js"
import { wireBytes } from "../protocol/limits.js"
import { DataMovement, wireBytesOf } from "../movement/DataMovement.js"

/** Arcs whose leaves one round compares at most. */
const MAX_ARCS_PER_ROUND = 64
/** Leaves whose records one round exchanges at most: bounds the work and the traffic of a round. */
const MAX_LEAVES_PER_ROUND = 256

const digestOf = (key: string, record: Entry | Tombstone | undefined) =>
  record === undefined ? undefined : entryDigest(key, record, record instanceof Tombstone)

/** What one anti-entropy round did. */
export interface RoundReport {
  readonly peer: string
  readonly sharedArcs: number
  readonly differingArcs: number
  readonly differingLeaves: number
  readonly pulled: number
  readonly pushed: number
}

/**
 * Merkle-tree anti-entropy, while the ring is stable. The node keeps one
 * tree per arc it replicates on the agreed ring, updated on every store change (so a round costs no scan of
 * the store), and every ANTI_ENTROPY_INTERVAL compares the arcs it shares
 * with one random co-replica: roots first, then the leaves of the arcs that
 * differ. The records of differing leaves, in bounded batches, go both
 * ways: pulled from the peer over the streaming Pull, pushed to it as
 * replica writes. The newest version wins, tombstones included, so replicas
 * that missed writes (a replica that was down, a write acknowledged by W of
 * N) converge without a client reading the key.
 *
 * Keys evicted (LRU) or expired on one replica and not yet on another make
 * leaves differ until the other drops them too; a push of such a record is
 * refused as stale below the watermark, so the exchange never resurrects it.
 */
export class AntiEntropy extends Effect.Service<AntiEntropy>()("cache/antientropy/AntiEntropy", {
  scoped: Effect.gen(function*() {
    const config = yield* NodeConfig
    const ring = yield* Ring
    const store = yield* Store
    const peers = yield* PeerClient
    const sync = yield* DataMovement
    const metrics = yield* Metrics
    const telemetry = yield* Telemetry
    const self = selfAddress(config)

    const empty = HashRing.build([], ring.settings)
    // The trees, and the stable configuration they summarise (none while forming or moving).
    let treesOf: ConfigView | undefined
    let trees = new ArcTrees(empty, self)
    // Store changes while a rebuild scans its copy of the store, replayed onto it at the end.
    let changesDuringBuild: Array<readonly [string, Entry | Tombstone | undefined, Entry | Tombstone | undefined]> | undefined
    store.onChange((key, before, after) => {
      trees.update(ring.hash(key), digestOf(key, before), digestOf(key, after))
      changesDuringBuild?.push([key, before, after])
    })
    yield* Effect.addFinalizer(() => Effect.sync(() => store.onChange(undefined)))

    // Leaves whose last exchange changed nothing (a key evicted or expired on
    // one side only), with the digests both sides had: while neither side
    // changes, exchanging them again would change nothing again.
    let fruitless = new Map<string, string>()

    /**
     * New trees for a new ring, from a copy of every record held (expired
     * ones too: their later removal is notified and must find them), hashed
     * a slice at a time; the changes made meanwhile are replayed at the end,
     * so the trees match the store exactly when they take over.
     */
    const rebuild = (view: ConfigView) =>
      Effect.gen(function*() {
        const snapshot = view.next
        treesOf = undefined
        const changes: Array<readonly [string, Entry | Tombstone | undefined, Entry | Tombstone | undefined]> = []
        changesDuringBuild = changes
        // A copy, not a lazy pass: the replay below must find each record exactly once.
        const held = store.held()
        const built = new ArcTrees(snapshot, self)
        yield* forEachSliced(held, ([key, record]) => built.update(ring.hash(key), undefined, digestOf(key, record)))
        for (const [key, before, after] of changes) built.update(ring.hash(key), digestOf(key, before), digestOf(key, after))
        changesDuringBuild = undefined
        trees = built
        treesOf = view
        fruitless = new Map()
      }).pipe(Effect.onInterrupt(() => Effect.sync(() => { changesDuringBuild = undefined })))
    yield* Effect.forkScoped(
      ring.views.pipe(
        Stream.filter((view): view is ConfigView => view !== undefined && view.stable),
        Stream.runForEach((view) => survive("anti-entropy rebuild", metrics, rebuild(view)))
      )
    )

    /**
     * Server side: digests of our trees, only when we route with the same
     * ring as the asker. `level` must be at most ARC_TREE_DEPTH (the gRPC
     * handler checks it).
     */
    const digests = (request: DigestsRequest): Effect.Effect<ReadonlyArray<ArcDigests>, EpochMismatch> =>
      Effect.suspend(() => {
        const current = trees
        if (treesOf?.epoch !== request.epoch || ring.current() !== treesOf) {
          return Effect.fail(new EpochMismatch({ node: self, at: ring.epoch(), asked: request.epoch, what: "digests" }))
        }
        return Effect.succeed(request.arcs.map((arc) => {
          const tree = current.tree(arc)
          if (tree === undefined) return { arc, digests: undefined }
          return { arc, digests: tree.level(request.level, 0, 2 ** request.level) }
        }))
      })

    /** Our records with a hash in `ranges`, pushed to `peer` as replica writes at `epoch`; resolves when all are answered. */
    const pushTo = (peer: string, ranges: RangeSet, epoch: number) =>
      Effect.flatMap(filterSliced(store.live(), ([key]) => ranges.has(ring.hash(key))), (records) => {
        const calls = records.map(([key, record]) => ({ peer, request: { key, write: toWrite(record), epoch } }))
        metrics.moved("antientropy_pushed", records.length, calls.reduce((sum, { request }) => sum + wireBytes(request), 0))
        return Effect.as(replicateAll(peers.replicate, calls), records.length)
      })

    /** One round against a random co-replica; undefined when there was nobody to compare with. */
    const round: Effect.Effect<RoundReport | undefined, PeerError> = Effect.gen(function*() {
      const current = trees
      const view = treesOf
      // Only on a stable ring, summarised for this very configuration, as one of its members.
      if (view === undefined || ring.current() !== view || !view.isMember(ring.identity())) return undefined
      const others = current.ring.members.filter((member) => member !== self)
      if (others.length === 0) return undefined
      const peer = others[yield* Random.nextIntBetween(0, others.length)]!
      const epoch = view.epoch
      const shared = current.sharedWith(peer)
      // As many requests as it takes for each answer to fit a message.
      const ask = (arcs: ReadonlyArray<number>, level: number) => {
        const most = maxDigestArcs(level, messageBudgetBytes(config))
        const parts = Array.from({ length: Math.ceil(arcs.length / most) }, (_, i) => arcs.slice(i * most, (i + 1) * most))
        return Effect.forEach(parts, (part) => peers.digests(peer, { epoch, arcs: part, level })).pipe(
          Effect.map((answers) => answers.flat())
        )
      }

      const roots = yield* ask(shared, 0)
      const differing = roots
        .filter(({ arc, digests }) => digests !== undefined && !digestEquals(digests[0]!, current.tree(arc)!.root()))
        .map(({ arc }) => arc)
        .slice(0, MAX_ARCS_PER_ROUND)
      const report = { peer, sharedArcs: shared.length, differingArcs: differing.length, differingLeaves: 0, pulled: 0, pushed: 0 }
      if (differing.length === 0) return report

      const candidates: Array<{ readonly id: string; readonly state: string; readonly range: HashRange }> = []
      for (const { arc, digests } of yield* ask(differing, current.depth)) {
        const tree = current.tree(arc)
        if (tree === undefined || digests === undefined) continue
        const mine = tree.level(current.depth, 0, tree.leafCount)
        for (const leaf of differingLeaves(mine, digests.slice(0, tree.leafCount))) {
          const [ours, theirs] = [mine[leaf]!, digests[leaf] ?? { hi: 0, lo: 0 }]
          const id = `${peer}/${arc}/${leaf}`
          const state = `${ours.hi}:${ours.lo}/${theirs.hi}:${theirs.lo}`
          if (fruitless.get(id) !== state) candidates.push({ id, state, range: leafRange(tree, leaf) })
        }
      }
      const chosen = candidates.slice(0, MAX_LEAVES_PER_ROUND)
      const leaves = chosen.map((c) => c.range)
      report.differingLeaves = leaves.length
      if (leaves.length === 0) return report
      report.pulled = yield* peers.pull(peer, { requester: self, epoch, ranges: leaves }).pipe(
        Stream.runFold(0, (count, chunk) => {
          sync.apply(chunk.records)
          metrics.moved("antientropy_pulled", chunk.records.length, wireBytesOf(chunk.records))
          return count + chunk.records.length
        })
      )
      report.pushed = yield* pushTo(peer, new RangeSet(leaves), epoch)
      // Remember the exchanged leaves as they were: if both sides still look
      // the same next round, this exchange did not help and is not repeated.
      for (const { id, state } of chosen) fruitless.set(id, state)
      return report
    })

    const logged = round.pipe(
      Effect.tap((report) => {
        metrics.antiEntropyRound(report === undefined ? "skipped" : report.differingLeaves > 0 ? "exchanged" : "in_sync")
        return report !== undefined && report.differingLeaves > 0
          ? Effect.logInfo("anti-entropy exchanged differing records").pipe(Effect.annotateLogs({ ...report }))
          : Effect.void
      }),
      Effect.catchAll((error) => {
        metrics.antiEntropyRound("skipped")
        return Effect.logDebug("anti-entropy round skipped").pipe(Effect.annotateLogs({ reason: error.message }))
      })
    )
    // Each round is a trace of its own (Digests and Pull calls carry it to the peer).
    const traced = asRootSpan(telemetry, "anti-entropy round")(logged)
    yield* Effect.forkScoped(backgroundLoop("anti-entropy", metrics, traced, Schedule.spaced(config.antiEntropyInterval)))

    return { digests } as const
  })
}) {}
