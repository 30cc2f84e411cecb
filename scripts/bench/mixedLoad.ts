/**
 * A mixed workload from a Node gRPC client (grpc-js), in a process of its
 * own: reads and writes in a given ratio over a key space, uniform or
 * zipfian, at a given concurrency and consistency. A grpc-js client process
 * tops out near 7,000 calls/s, so this measures mixes and latency at low
 * concurrency; throughput comes from h2load.
 *
 *   node --import tsx scripts/bench/mixedLoad.ts '<MixedSpec as JSON>'
 */
import { fork } from "node:child_process"
import { fileURLToPath } from "node:url"
import { ClientError, Status } from "nice-grpc"
import { Consistency } from "../../src/generated/pb/cache.js"
import { connect } from "../../testkit/clients.js"
import { type CpuShare, cpuWindow, type Watched } from "./cpu.js"
import { type Distribution, keyChooser, keyName, seeded } from "./keys.js"
import { decode, encode, type LatencySummary, newHistogram, summarize } from "./latency.js"

export interface MixedSpec {
  readonly targets: ReadonlyArray<string>
  readonly inFlight: number
  readonly durationS: number
  readonly warmupS: number
  readonly keys: number
  readonly distribution: Distribution
  readonly valueSize: number
  /** Share of calls that are Gets; the rest are Sets. */
  readonly readRatio: number
  readonly consistency: "ONE" | "QUORUM" | "ALL"
  readonly seed: number
}

export interface MixedResult {
  readonly inFlight: number
  readonly ops: number
  readonly rps: number
  readonly readRatio: number
  readonly distribution: Distribution
  readonly latency: LatencySummary
  /** Calls that did not end OK, by gRPC status (a Get of a key never written counts as NOT_FOUND). */
  readonly statuses: Readonly<Record<string, number>>
  readonly cpu: ReadonlyArray<CpuShare>
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

const child = async (spec: MixedSpec) => {
  const clients = spec.targets.map((target) => connect(target))
  const consistency = Consistency[spec.consistency]
  const value = "v".repeat(spec.valueSize)
  const histogram = newHistogram()
  const statuses: Record<string, number> = {}
  let measuring = false
  let stopped = false
  let ops = 0
  const worker = async (w: number) => {
    const random = seeded(spec.seed + w)
    const nextKey = keyChooser(spec.keys, spec.distribution, random)
    const client = clients[w % clients.length]!
    while (!stopped) {
      const key = keyName(nextKey())
      const read = random() < spec.readRatio
      const started = performance.now()
      let status = "OK"
      try {
        if (read) await client.cache.get({ key, consistency })
        else await client.cache.set({ key, value, consistency })
      } catch (error) {
        status = error instanceof ClientError ? Status[error.code] : "CLIENT_ERROR"
      }
      if (!measuring) continue
      ops++
      if (status === "OK" || status === "NOT_FOUND") histogram.recordValue(Math.max(1, Math.round((performance.now() - started) * 1000)))
      if (status !== "OK") statuses[status] = (statuses[status] ?? 0) + 1
    }
  }
  const workers = Array.from({ length: spec.inFlight }, (_, w) => worker(w))
  await sleep(spec.warmupS * 1000)
  measuring = true
  const began = performance.now()
  await sleep(spec.durationS * 1000)
  measuring = false
  const seconds = (performance.now() - began) / 1000
  stopped = true
  await Promise.all(workers)
  clients.forEach((client) => client.close())
  process.send!({ ops, seconds, statuses, histogram: encode(histogram) })
}

/** Runs the workload in a child process and returns its figures, with the CPU use of it and of `servers`. */
export const runMixed = async (spec: MixedSpec, servers: ReadonlyArray<Watched>): Promise<MixedResult> => {
  const worker = fork(fileURLToPath(import.meta.url), [JSON.stringify(spec)], { execArgv: ["--import", "tsx"] })
  const answer = new Promise<{ ops: number; seconds: number; statuses: Record<string, number>; histogram: string }>((resolve, reject) => {
    worker.once("message", (message) => resolve(message as never))
    worker.once("exit", (code) => code !== 0 && reject(new Error(`mixed load exited with ${code}`)))
  })
  const cpu = await new Promise<Array<CpuShare>>((resolve) =>
    setTimeout(() => {
      const end = cpuWindow([...servers, { label: "node client", pid: worker.pid! }])
      setTimeout(() => resolve(end()), Math.max(100, spec.durationS * 1000 - 300))
    }, spec.warmupS * 1000)
  )
  const { ops, seconds, statuses, histogram } = await answer
  return {
    inFlight: spec.inFlight,
    ops,
    rps: Math.round(ops / seconds),
    readRatio: spec.readRatio,
    distribution: spec.distribution,
    latency: summarize(decode(histogram)),
    statuses,
    cpu
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv[2] !== undefined) {
  await child(JSON.parse(process.argv[2]) as MixedSpec)
}
