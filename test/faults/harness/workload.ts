/**
 * The fault-test workload, run as its own process inside the client
 * namespace: several clients, each with its own gRPC connection to one node,
 * do random Get/Set/Delete on a few keys with unique written values and a
 * client deadline, and record every operation with invocation and completion
 * times from this process's monotonic clock. After the main phase and a
 * settle pause, each key is read once more (retried until it answers).
 *
 *   node --import tsx test/faults/harness/workload.ts <config.json> <history.json>
 */
import { readFileSync, writeFileSync } from "node:fs"
import { pathToFileURL } from "node:url"
import { ClientError, Status } from "nice-grpc"
import { Consistency } from "../../../src/generated/pb/cache.js"
import { connect } from "../../../testkit/clients.js"
import type { Operation, Outcome } from "../../../testkit/linearizability/history.js"
import { prng } from "../../../testkit/random.js"

export interface WorkloadConfig {
  readonly targets: ReadonlyArray<string>
  readonly clients: number
  readonly keys: number
  readonly durationMs: number
  readonly settleMs: number
  readonly deadlineMs: number
  readonly consistency: "ONE" | "QUORUM" | "ALL"
  readonly seed: number
  /** Half the sets carry a TTL of 1 to this many seconds; 0: none (the node's default TTL). */
  readonly ttlSeconds: number
}

/** Errors after which the operation certainly did not happen. */
const CERTAINLY_NOT_APPLIED = new Set([Status.INVALID_ARGUMENT, Status.RESOURCE_EXHAUSTED, Status.FAILED_PRECONDITION, Status.UNAUTHENTICATED])
/**
 * UNAVAILABLE that says nothing was attempted: the node refused before
 * coordinating (not a member yet, shutting down), or no connection was made.
 */
const notAttempted = (error: ClientError) =>
  error.code === Status.UNAVAILABLE && (error.details.startsWith("not serving:") || error.details.startsWith("No connection established"))

const run = async (config: WorkloadConfig): Promise<{ history: Array<Operation>; originEpochMs: number }> => {
  const random = prng(config.seed)
  const history: Array<Operation> = []
  const level = Consistency[config.consistency]
  let nextId = 0
  const started = performance.now()
  const originEpochMs = performance.timeOrigin + started
  const now = () => performance.now() - started
  // Traffic may start before the nodes listen: grpc-js would back off up to
  // two minutes after a refused connection and fail every call meanwhile.
  const channelOptions = { "grpc.initial_reconnect_backoff_ms": 100, "grpc.max_reconnect_backoff_ms": 500 }
  const conns = Array.from({ length: config.clients }, (_, c) => connect(config.targets[c % config.targets.length]!, channelOptions))
  // The runner may wait for this line to start the nodes only now (clients calling from their first moment).
  process.stdout.write("workload started\n")

  const perform = async (client: number, key: string, kind: Operation["kind"], value: string | undefined, ttlSeconds = 0) => {
    const cache = conns[client]!.cache
    const invokedAtMs = now()
    const options = { signal: AbortSignal.timeout(config.deadlineMs) }
    let outcome: Outcome = "ok"
    let read: string | undefined = value
    let completedAtMs: number | undefined
    let version: { hlc: number; nodeId: number } | undefined
    let failure: string | undefined
    try {
      if (kind === "set") version = (await cache.set({ key, value: value!, ttlSeconds, consistency: level }, options)).version
      else if (kind === "delete") version = (await cache.delete({ key, consistency: level }, options)).version
      else {
        const got = await cache.get({ key, consistency: level }, options)
        read = got.value
        version = got.version
      }
      completedAtMs = now()
    } catch (error) {
      failure = error instanceof ClientError ? `${Status[error.code]}: ${error.details}` : String(error)
      if (kind === "get" && error instanceof ClientError && error.code === Status.NOT_FOUND) {
        read = undefined
        completedAtMs = now()
      } else if (kind === "get" || (error instanceof ClientError && (CERTAINLY_NOT_APPLIED.has(error.code) || notAttempted(error)))) {
        outcome = "fail" // a failed read tells nothing; a refused write never happened
        completedAtMs = now()
      } else {
        outcome = "unknown" // timeout, UNAVAILABLE, ABORTED...: the write may have happened
      }
    }
    const op: Operation = { id: nextId++, client, key, kind, value: read, invokedAtMs, completedAtMs, outcome }
    const noted = outcome === "ok" || failure === undefined || failure.startsWith("NOT_FOUND") ? op : { ...op, error: failure.slice(0, 200) }
    history.push(version === undefined ? noted : { ...noted, version: `${version.hlc}/${version.nodeId}` })
    return outcome
  }

  const client = async (c: number) => {
    let n = 0
    while (now() < config.durationMs) {
      const key = `k${Math.floor(random() * config.keys)}`
      const roll = random()
      const kind = roll < 0.5 ? "get" : roll < 0.9 ? "set" : "delete"
      const ttlSeconds = kind === "set" && config.ttlSeconds > 0 && random() < 0.5 ? 1 + Math.floor(random() * config.ttlSeconds) : 0
      const outcome = await perform(c, key, kind, kind === "set" ? `c${c}-${n++}` : undefined, ttlSeconds)
      // A client whose node is down or cut off should not spin: pause before the next call.
      if (outcome !== "ok") await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }
  await Promise.all(conns.map((_, c) => client(c)))
  await new Promise((resolve) => setTimeout(resolve, config.settleMs))
  // Final reads: after healing, every acknowledged write must still be visible (or overwritten).
  for (let k = 0; k < config.keys; k++) {
    for (let attempt = 0; attempt < 20; attempt++) {
      if ((await perform(attempt % config.clients, `k${k}`, "get", undefined)) === "ok") break
      await new Promise((resolve) => setTimeout(resolve, 250))
    }
  }
  conns.forEach((c) => c.close())
  return { history, originEpochMs }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const config = JSON.parse(readFileSync(process.argv[2]!, "utf8")) as WorkloadConfig
  const result = await run(config)
  writeFileSync(process.argv[3]!, JSON.stringify(result))
  process.exit(0)
}
