/**
 * `pnpm bench`: throughput and latency of the cache against the limit of its
 * own stack, every scenario in one run so that each figure is a ratio
 * measured side by side on the same (shared, 2-core) machine.
 *
 *   (L)    a bare nice-grpc server answering pb.CacheService from a Map
 *   (S)    one node
 *   (C)    three nodes on 127.0.0.x, load spread over all three, QUORUM and ONE
 *   (D)    the same three nodes with one killed (after the others saw it die)
 *   (T)    one node tracing at the default sampling (1% of roots) to an OTLP sink
 *   (T100) one node tracing every call
 *   (TLS)  one node with TLS off, then on (mutual TLS settings, PEER_TLS_*), under the same h2load load
 *
 * Get and Set throughput come from h2load processes (native HTTP/2; each
 * with its own key), latency percentiles from their per-request logs in an
 * HDR histogram; a mixed read/write workload from a grpc-js client process
 * gives latency at low concurrency. Each phase reports the CPU each process
 * used, so the bottleneck is visible. Writes bench/results/*.json,
 * bench/README.md (tables, ratios, targets) and bench/chart.svg.
 *
 *   pnpm bench [--duration 6] [--warmup 2] [--concurrency 64] [--keys 1000]
 *              [--distribution uniform|zipfian] [--value-size 100] [--read-ratio 0.9]
 *              [--consistency QUORUM] [--mixed-concurrency 8] [--scenarios L,S,C,D,T,T100,TLS]
 */
import { credentials } from "@grpc/grpc-js"
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { cpus, tmpdir } from "node:os"
import { join } from "node:path"
import { parseArgs } from "node:util"
import { Consistency, GetRequest, SetRequest } from "../../src/generated/pb/cache.js"
import { createAuthority, issueCertificate, validFor } from "../../src/security/certificates.js"
import { repoRoot } from "../../testkit/nodeProcess.js"
import { parseMetrics } from "../../testkit/admin.js"
import { renderChart } from "./chart.js"
import { grpcFrame, type H2loadResult, runH2load } from "./h2load.js"
import { type Distribution, keyName } from "./keys.js"
import { type MixedResult, runMixed } from "./mixedLoad.js"
import { renderReport, type ScenarioResult } from "./report.js"
import { populate, startBare, startNodes, startSpanSink, type SystemUnderTest, systemOf } from "./servers.js"

const { values: flags } = parseArgs({
  options: {
    duration: { type: "string", default: "6" },
    warmup: { type: "string", default: "2" },
    concurrency: { type: "string", default: "64" },
    keys: { type: "string", default: "1000" },
    distribution: { type: "string", default: "zipfian" },
    "value-size": { type: "string", default: "100" },
    "read-ratio": { type: "string", default: "0.9" },
    consistency: { type: "string", default: "QUORUM" },
    "mixed-concurrency": { type: "string", default: "8" },
    scenarios: { type: "string", default: "L,S,C,D,T,T100,TLS" },
    "node-env": { type: "string", default: "" },
    out: { type: "string", default: join(repoRoot, "bench") }
  }
})
const positive = (name: string, text: string | undefined) => {
  const n = Number(text)
  if (!(n > 0)) throw new Error(`--${name} must be a positive number, got ${text}`)
  return n
}
const options = {
  durationS: positive("duration", flags.duration),
  warmupS: positive("warmup", flags.warmup),
  inFlight: positive("concurrency", flags.concurrency),
  keys: positive("keys", flags.keys),
  distribution: flags.distribution as Distribution,
  valueSize: positive("value-size", flags["value-size"]),
  readRatio: Number(flags["read-ratio"]),
  consistency: flags.consistency as "ONE" | "QUORUM" | "ALL",
  mixedInFlight: positive("mixed-concurrency", flags["mixed-concurrency"]),
  scenarios: new Set((flags.scenarios ?? "").split(",").map((s) => s.trim()).filter((s) => s !== "")),
  out: flags.out ?? join(repoRoot, "bench"),
  /** Extra settings for every node, `KEY=value,KEY=value`. */
  nodeEnv: Object.fromEntries((flags["node-env"] ?? "").split(",").filter((kv) => kv.includes("=")).map((kv) => {
    const i = kv.indexOf("=")
    return [kv.slice(0, i).trim(), kv.slice(i + 1).trim()]
  })) as Record<string, string>
}
if (!["uniform", "zipfian"].includes(options.distribution)) throw new Error("--distribution is uniform or zipfian")
if (!["ONE", "QUORUM", "ALL"].includes(options.consistency)) throw new Error("--consistency is ONE, QUORUM or ALL")

/** h2load processes per target node: each process repeats one key. */
const PROCESSES_PER_NODE = 2

const bodies = (method: "Get" | "Set", index: number, consistency: Consistency) => {
  const key = keyName(index)
  const message = method === "Get"
    ? GetRequest.encode({ key, consistency }).finish()
    : SetRequest.encode({ key, value: "v".repeat(options.valueSize), consistency }).finish()
  return grpcFrame(message)
}

const log = (text: string) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${text}\n`)

/** A plain sample's value in Prometheus text (0 when absent). */
const sampleOf = (text: string, name: string) => Number(new RegExp(`^${name} (\\S+)$`, "m").exec(text)?.[1] ?? 0)

/** Calls the nodes counted, by method and code, and the replica operations and Batch calls they sent. */
const scrapeCodes = async (admins: ReadonlyArray<string>) => {
  const counts = new Map<string, number>()
  for (const admin of admins) {
    const text = await (await fetch(`http://${admin}/metrics`)).text()
    counts.set("batch ops", (counts.get("batch ops") ?? 0) + sampleOf(text, "cache_peer_batch_ops_sum"))
    counts.set("batches", (counts.get("batches") ?? 0) + sampleOf(text, "cache_peer_batch_ops_count"))
    for (const family of parseMetrics(text).families.filter((f) => f.name === "cache_requests_total")) {
      for (const sample of family.metrics) {
        const id = `${sample.labels?.["method"]} ${sample.labels?.["code"]}`
        counts.set(id, (counts.get(id) ?? 0) + Number(sample.value))
      }
    }
  }
  return counts
}
/**
 * Calls that ended with another status than OK. CANCELLED is left out: it is
 * h2load resetting the calls still in flight when its time is up.
 */
const errorsBetween = (before: Map<string, number>, after: Map<string, number>) => {
  const errors: Record<string, number> = {}
  for (const [id, count] of after) {
    const delta = count - (before.get(id) ?? 0)
    if (delta > 0 && id.includes(" ") && !id.startsWith("batch") && !id.endsWith(" OK") && !id.endsWith(" CANCELLED")) errors[id] = delta
  }
  return errors
}

/** Get and Set throughput with h2load (and the mixed workload if asked) against one system. */
const measure = async (
  name: string,
  description: string,
  system: SystemUnderTest,
  consistency: Consistency,
  mixed: boolean,
  tls = false
): Promise<ScenarioResult> => {
  const phases: { get?: H2loadResult; set?: H2loadResult; mixed?: MixedResult } = {}
  // Nodes that write CPU profiles (`pnpm bench:profile`) take one per phase (see cpuProfiler.mjs).
  const profiled = async <A>(phase: () => Promise<A>): Promise<A> => {
    const toggle = () => {
      if (process.env["CPU_PROFILE_DIR"] !== undefined) for (const { pid } of system.processes) process.kill(pid, "SIGUSR2")
    }
    toggle()
    try {
      return await phase()
    } finally {
      toggle()
    }
  }
  const before = system.admins.length > 0 ? await scrapeCodes(system.admins) : undefined
  for (const method of ["Get", "Set"] as const) {
    const targets = system.addresses.flatMap((address, node) =>
      Array.from({ length: PROCESSES_PER_NODE }, (_, p) => ({ address, body: bodies(method, node * PROCESSES_PER_NODE + p, consistency) }))
    )
    log(`${name}: ${method} with h2load, ${targets.length} processes, ${options.inFlight} in flight`)
    const result = await profiled(() =>
      runH2load({ method, targets, inFlight: options.inFlight, durationS: options.durationS, warmupS: options.warmupS, servers: system.processes, tls })
    )
    phases[method === "Get" ? "get" : "set"] = result
  }
  if (mixed) {
    log(`${name}: mixed workload from a grpc-js client, ${options.mixedInFlight} in flight`)
    phases.mixed = await profiled(() => runMixed({
      targets: system.addresses,
      inFlight: options.mixedInFlight,
      durationS: options.durationS,
      warmupS: options.warmupS,
      keys: options.keys,
      distribution: options.distribution,
      valueSize: options.valueSize,
      readRatio: options.readRatio,
      consistency: Consistency[consistency] as "ONE" | "QUORUM" | "ALL",
      seed: 42
    }, system.processes))
  }
  const after = before === undefined ? undefined : await scrapeCodes(system.admins)
  const errors = before === undefined || after === undefined ? {} : errorsBetween(before, after)
  const batches = (after?.get("batches") ?? 0) - (before?.get("batches") ?? 0)
  const batchOps = (after?.get("batch ops") ?? 0) - (before?.get("batch ops") ?? 0)
  return { name, description, ...phases, errors, ...(batches > 0 ? { peerBatches: { batches, ops: batchOps } } : {}) }
}

const consistencyOf = Consistency[options.consistency]
const results: Array<ScenarioResult> = []
const wanted = (name: string) => options.scenarios.has(name)

if (wanted("L")) {
  const bare = await startBare("127.0.0.101")
  await populate(bare.addresses, options.keys, options.valueSize)
  results.push(await measure("L", "bare nice-grpc server, a Map", bare, consistencyOf, true))
  await bare.stop()
}
if (wanted("S")) {
  const node = await startNodes(["127.0.0.102"], options.nodeEnv)
  await populate(node.addresses, options.keys, options.valueSize)
  results.push(await measure("S", "one node", node, consistencyOf, true))
  await node.stop()
}
if (wanted("C") || wanted("D")) {
  const cluster = await startNodes(["127.0.0.103", "127.0.0.104", "127.0.0.105"], options.nodeEnv)
  await populate(cluster.addresses, options.keys, options.valueSize)
  if (wanted("C")) {
    results.push(await measure("C", "three nodes, QUORUM", cluster, Consistency.QUORUM, true))
    results.push(await measure("C-ONE", "three nodes, ONE", cluster, Consistency.ONE, false))
  }
  if (wanted("D")) {
    const [a, b, killed] = cluster.nodes
    await killed!.stop("SIGKILL")
    await Promise.all([a!, b!].map((node) => node.waitForLog((line) => line["msg"] === "member dead" && line["member"] === killed!.address)))
    results.push(await measure("D", "three nodes, one killed, QUORUM", await systemOf([a!, b!]), Consistency.QUORUM, false))
  }
  await cluster.stop()
}
for (const [name, sampler] of [["T", undefined], ["T100", "always_on"]] as const) {
  if (!wanted(name)) continue
  const sink = await startSpanSink("127.0.0.106")
  const node = await startNodes(["127.0.0.106"], {
    ...options.nodeEnv,
    OTEL_EXPORTER_OTLP_ENDPOINT: sink.endpoint,
    ...(sampler === undefined ? {} : { OTEL_TRACES_SAMPLER: sampler })
  })
  await populate(node.addresses, options.keys, options.valueSize)
  const result = await measure(name, sampler === undefined ? "one node, tracing at the default 1%" : "one node, tracing every call", node, consistencyOf, false)
  results.push({ ...result, exported: sink.received() })
  await node.stop()
  await sink.close()
}

if (wanted("TLS")) {
  // The same node and load twice: plain text, then TLS on the port (the node certificate, client certificates asked for).
  const host = "127.0.0.107"
  const dir = mkdtempSync(join(tmpdir(), "bench-tls-"))
  const ca = await createAuthority("bench CA", validFor(new Date(), 1))
  const issued = await issueCertificate(ca, { commonName: host, names: [host], use: "node", ...validFor(new Date(), 1) })
  const file = (name: string, text: string) => {
    writeFileSync(join(dir, name), text)
    return join(dir, name)
  }
  const tlsEnv = { PEER_TLS_CA_FILE: file("ca.pem", ca.certPem), PEER_TLS_CERT_FILE: file("node.pem", issued.certPem), PEER_TLS_KEY_FILE: file("node-key.pem", issued.keyPem) }
  for (const tls of [false, true]) {
    const node = await startNodes([host], { ...options.nodeEnv, ...(tls ? tlsEnv : {}) })
    await populate(node.addresses, options.keys, options.valueSize, tls ? credentials.createSsl(Buffer.from(ca.certPem)) : undefined)
    results.push(await measure(tls ? "TLS-on" : "TLS-off", tls ? "one node, TLS (PEER_TLS_*)" : "one node, plain text", node, consistencyOf, false, tls))
    await node.stop()
  }
  rmSync(dir, { recursive: true, force: true })
}

const meta = {
  date: new Date().toISOString(),
  cpus: cpus().length,
  cpuModel: cpus()[0]?.model ?? "unknown",
  node: process.version,
  options: { ...options, scenarios: [...options.scenarios], out: undefined }
}
const resultsDir = join(options.out, "results")
mkdirSync(resultsDir, { recursive: true })
for (const result of results) writeFileSync(join(resultsDir, `${result.name}.json`), JSON.stringify({ meta, ...result }, null, 2) + "\n")
writeFileSync(join(options.out, "chart.svg"), renderChart(results))
const report = renderReport(meta, results)
writeFileSync(join(options.out, "README.md"), report)
process.stdout.write(report)
