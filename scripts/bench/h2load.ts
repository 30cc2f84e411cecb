/**
 * Throughput with a native load generator: h2load (nghttp2) speaks gRPC as
 * plain HTTP/2 POSTs, a body of one framed protobuf message per process.
 * Several processes, each with its own body, spread the load over several
 * keys and nodes. Latencies come from h2load's per-request log, recorded
 * into an HDR histogram.
 */
import { spawn } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { type CpuShare, cpuWindow, type Watched } from "./cpu.js"
import { type LatencySummary, newHistogram, summarize } from "./latency.js"

/** One h2load process: where it sends, and the framed request it repeats. */
export interface H2Target {
  readonly address: string
  readonly body: Uint8Array
}

export interface H2loadRun {
  /** What the calls do, for the report. */
  readonly method: "Get" | "Set"
  /** The gRPC method's path, e.g. `/pb.CacheService/Get` or `/etcdserverpb.KV/Range`. */
  readonly path: string
  readonly targets: ReadonlyArray<H2Target>
  /** Calls in flight over all processes. */
  readonly inFlight: number
  readonly durationS: number
  readonly warmupS: number
  /** Server processes whose CPU use is reported next to the load generators'. */
  readonly servers: ReadonlyArray<Watched>
  /** Speak TLS (h2load does not check the server's certificate). */
  readonly tls?: boolean
}

export interface H2loadResult {
  readonly method: "Get" | "Set"
  readonly path: string
  readonly inFlight: number
  readonly requests: number
  /** HTTP-level failures (gRPC statuses travel in trailers: the nodes' /metrics, or etcd's, count those). */
  readonly failed: number
  readonly rps: number
  readonly latency: LatencySummary
  readonly cpu: ReadonlyArray<CpuShare>
}

/** A gRPC message on the wire: a zero byte (not compressed), its length big-endian, the message. */
export const grpcFrame = (message: Uint8Array): Uint8Array => {
  const frame = new Uint8Array(5 + message.length)
  new DataView(frame.buffer).setUint32(1, message.length)
  frame.set(message, 5)
  return frame
}

const STATS = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/
const RATE = /finished in [\d.]+s, ([\d.]+) req\/s/

interface ProcessOutcome {
  readonly pid: number
  readonly done: Promise<{ stdout: string; code: number | null }>
}

/** Runs one h2load process per target for warm-up plus duration; sums their throughput and latencies. */
export const runH2load = async (run: H2loadRun): Promise<H2loadResult> => {
  const dir = mkdtempSync(join(tmpdir(), "bench-h2load-"))
  const perProcess = Math.max(1, Math.round(run.inFlight / run.targets.length))
  const connections = Math.min(2, perProcess)
  const streams = Math.ceil(perProcess / connections)
  const startedUs = Date.now() * 1000
  const processes: Array<ProcessOutcome & { readonly log: string }> = run.targets.map((target, i) => {
    const body = join(dir, `body-${i}.bin`)
    const log = join(dir, `log-${i}.tsv`)
    writeFileSync(body, target.body)
    const child = spawn("h2load", [
      "-D", String(run.durationS),
      "--warm-up-time", String(run.warmupS),
      "-c", String(connections),
      "-m", String(streams),
      "-d", body,
      "-H", "content-type: application/grpc",
      "-H", "te: trailers",
      `--log-file=${log}`,
      `${run.tls === true ? "https" : "http"}://${target.address}${run.path}`
    ], { stdio: ["ignore", "pipe", "inherit"] })
    let stdout = ""
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk))
    const done = new Promise<{ stdout: string; code: number | null }>((resolve, reject) => {
      child.once("error", reject)
      // "close", not "exit": only then has all of its output been read.
      child.once("close", (code) => resolve({ stdout, code }))
    })
    return { pid: child.pid!, done, log }
  })

  // CPU over the measured window only: from the end of warm-up to just before the processes exit.
  const watched = [...run.servers, ...processes.map((p, i) => ({ label: `h2load ${i + 1}`, pid: p.pid }))]
  const cpu = await new Promise<Array<CpuShare>>((resolve) =>
    setTimeout(() => {
      const end = cpuWindow(watched)
      setTimeout(() => resolve(end()), Math.max(100, run.durationS * 1000 - 300))
    }, run.warmupS * 1000)
  )

  const histogram = newHistogram()
  const measuredFromUs = startedUs + run.warmupS * 1_000_000
  let requests = 0
  let failed = 0
  let rps = 0
  for (const process of processes) {
    const { stdout, code } = await process.done
    const stats = STATS.exec(stdout)
    const rate = RATE.exec(stdout)
    if (code !== 0 || stats === null || rate === null) throw new Error(`h2load failed (exit ${code}):\n${stdout}`)
    requests += Number(stats[3])
    failed += Number(stats[5]) + Number(stats[6]) + Number(stats[7])
    rps += Number(rate[1])
    for (const line of readFileSync(process.log, "utf8").split("\n")) {
      const [start, status, elapsed] = line.split("\t")
      if (elapsed === undefined || Number(start) < measuredFromUs) continue
      if (status === "200") histogram.recordValue(Math.max(1, Number(elapsed)))
    }
  }
  rmSync(dir, { recursive: true, force: true })
  return {
    method: run.method,
    path: run.path,
    inFlight: connections * streams * processes.length,
    requests,
    failed,
    rps: Math.round(rps),
    latency: summarize(histogram),
    cpu
  }
}
