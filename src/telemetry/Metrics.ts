import { Effect } from "effect"
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client"

/** Request latency buckets in seconds: sub-millisecond local hits up to calls that hit RPC_TIMEOUT. */
const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

/** Why records crossed the network: a pull of gained ranges, any pull answered, anti-entropy both ways. */
export type MovementKind = "sync_pulled" | "pull_served" | "antientropy_pulled" | "antientropy_pushed"

/** How an anti-entropy round ended. */
export type RoundOutcome = "in_sync" | "exchanged" | "skipped"

interface RequestInstruments {
  readonly count: { inc: () => void }
  readonly latency: { observe: (seconds: number) => void }
}

/**
 * The node's Prometheus registry and the instruments the request path and
 * the background loops update. Hot-path updates are plain synchronous calls
 * on label children bound once per (method, code), so a request costs two
 * increments. Values known only at scrape time (store size, members) are
 * registered by the admin server as collectors on the same registry.
 */
export class Metrics extends Effect.Service<Metrics>()("cache/telemetry/Metrics", {
  sync: () => {
    const registry = new Registry()
    // Process CPU, memory, GC, and event-loop lag (nodejs_eventloop_lag_seconds and its percentiles).
    collectDefaultMetrics({ register: registry })
    const registers = [registry]
    const counter = <L extends string>(name: string, help: string, labelNames: ReadonlyArray<L> = []) =>
      new Counter({ name, help, labelNames, registers })

    const requests = counter("cache_requests_total", "Client calls answered, by method and gRPC status code", ["method", "code"])
    const latency = new Histogram({
      name: "cache_request_duration_seconds",
      help: "Time from receiving a client call to answering it, by method and gRPC status code",
      labelNames: ["method", "code"] as const,
      buckets: LATENCY_BUCKETS,
      registers
    })
    const quorumFailures = counter("cache_quorum_failures_total", "Reads and writes that could not reach their consistency level (UNAVAILABLE)", ["op"])
    const staleRetries = counter("cache_stale_retries_total", "Write attempts refused everywhere as stale and retried at a newer version")
    const contention = counter("cache_write_contention_total", "Writes that lost to concurrent newer writes of the same key (ABORTED)")
    const writeBacks = counter("cache_write_backs_total", "Reads whose answers disagreed, so the newest value was written back to a quorum before answering")
    const readRepairs = counter("cache_read_repairs_total", "Late replicas repaired in the background after a read")
    const speculativeReads = counter("cache_speculative_reads_total", "Reads that asked replicas beyond their first quorum because one had not answered within SPECULATIVE_READ_DELAY")
    const forgottenReads = counter("cache_forgotten_reads_total", "Reads answered NOT_FOUND because a replica may have forgotten a newer version (evicted or expired)")
    const movedRecords = counter("cache_moved_records_total", "Records sent or received moving data between nodes, by kind", ["kind"])
    const movedBytes = counter("cache_moved_bytes_total", "Approximate bytes (keys, values, versions) moved between nodes, by kind", ["kind"])
    const batches = new Histogram({
      name: "cache_peer_batch_ops",
      help: "Replica operations carried by each message of a peer's Stream (or Batch call), at most PEER_BATCH_MAX",
      buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512],
      registers
    })
    const connections = new Gauge({ name: "cache_peer_connections", help: "Connections this node holds open to other nodes", registers })
    const rounds = counter("cache_antientropy_rounds_total", "Merkle anti-entropy rounds, by outcome", ["outcome"])
    const fenced = counter(
      "cache_fenced_operations_total",
      "Replica operations refused for a ring epoch older than the replica's (side=replica), and client calls retried on a newer ring after such a refusal (side=coordinator)",
      ["side"]
    )
    const refused = counter(
      "cache_refused_versions_total",
      "Versions from other nodes refused because they lie further ahead of this clock than MAX_CLOCK_OFFSET (replica writes, read answers, pulled records)"
    )
    const configs = counter("cache_ring_configurations_total", "Agreed ring configurations this node installed, by phase", ["phase"])
    const forced = counter("cache_forced_removals_total", "Members removed by force through the admin API (writes only they held may be lost)")
    const failures = counter("cache_background_failures_total", "Failed steps of background loops (logged; the loop goes on), by loop", ["loop"])

    // Label children bound once: `labels(...)` hashes its arguments on every call.
    const bound = new Map<string, Map<string, RequestInstruments>>()
    const instrumentsFor = (method: string, code: string): RequestInstruments => {
      let byCode = bound.get(method)
      if (byCode === undefined) bound.set(method, byCode = new Map())
      let instruments = byCode.get(code)
      if (instruments === undefined) {
        instruments = { count: requests.labels(method, code), latency: latency.labels(method, code) }
        byCode.set(code, instruments)
      }
      return instruments
    }

    return {
      registry,
      /** One answered client call. */
      request: (method: string, code: string, seconds: number): void => {
        const instruments = instrumentsFor(method, code)
        instruments.count.inc()
        instruments.latency.observe(seconds)
      },
      quorumFailure: (op: "read" | "write"): void => quorumFailures.labels(op).inc(),
      staleRetry: (): void => staleRetries.inc(),
      writeContention: (): void => contention.inc(),
      writeBack: (): void => writeBacks.inc(),
      readRepair: (): void => readRepairs.inc(),
      forgottenRead: (): void => forgottenReads.inc(),
      speculativeRead: (): void => speculativeReads.inc(),
      moved: (kind: MovementKind, records: number, bytes: number): void => {
        if (records === 0) return
        movedRecords.labels(kind).inc(records)
        movedBytes.labels(kind).inc(bytes)
      },
      antiEntropyRound: (outcome: RoundOutcome): void => rounds.labels(outcome).inc(),
      /** One Batch call sent with this many replica operations. */
      peerBatch: (ops: number): void => batches.observe(ops),
      /** A connection to a peer opened (1) or closed (-1). */
      peerConnections: (change: 1 | -1): void => connections.inc(change),
      fenced: (side: "replica" | "coordinator"): void => fenced.labels(side).inc(),
      refused: (count: number): void => refused.inc(count),
      configurationInstalled: (phase: string): void => configs.labels(phase).inc(),
      forcedRemoval: (): void => forced.inc(),
      backgroundFailure: (loop: string): void => failures.labels(loop).inc()
    } as const
  }
}) {}
