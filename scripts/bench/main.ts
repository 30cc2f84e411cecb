/**
 * `pnpm bench`: throughput and latency of the cache against the limit of its
 * own stack, every scenario in one run so that each figure is a ratio
 * measured side by side on the same (shared, 2-core) machine.
 *
 *   (L)    a bare nice-grpc server (ts-proto codecs) answering pb.CacheService from a Map
 *   (G)    a bare grpc-js server (protobufjs codecs, @grpc/proto-loader) answering the same from a Map
 *   (S)    one node
 *   (C)    three nodes on 127.0.0.x, load spread over all three, QUORUM and ONE
 *   (D)    the same three nodes with one killed (after the others saw it die)
 *   (E)    etcd 3.4, three members on tmpfs, load spread over all three: Range
 *          (linearizable) for Get, Put for Set; the reference for (C)
 *   (T)    one node tracing at the default sampling (1% of roots) to an OTLP sink
 *   (T100) one node tracing every call
 *   (TLS)  one node with TLS off, then on (mutual TLS settings, PEER_TLS_*), under the same h2load load
 *
 * Get and Set throughput come from h2load processes (native HTTP/2; each
 * with its own key), latency percentiles from their per-request logs in an
 * HDR histogram; a mixed read/write workload from a grpc-js client process
 * gives latency at low concurrency, and one h2load process with one call at
 * a time gives the latency of a lone Set (L, G, S, C at QUORUM, E's Put to
 * its leader). Each phase reports the CPU each process used, so the
 * bottleneck is visible. L, G and S run side by side, and so do C and E:
 * their Get and Set phases interleave over `--rounds` rounds and the report
 * takes each one's median round, so that a slow spell of this shared
 * machine does not fall on one of them alone. Writes bench/results/*.json,
 * bench/README.md (tables, ratios, targets) and bench/chart.svg.
 *
 *   pnpm bench [--duration 6] [--warmup 2] [--concurrency 64] [--keys 1000]
 *              [--distribution uniform|zipfian] [--value-size 100] [--read-ratio 0.9]
 *              [--consistency QUORUM] [--mixed-concurrency 8] [--rounds 3]
 *              [--scenarios L,G,S,C,D,E,T,T100,TLS]
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
import { populate, populateEtcd, startBare, startEtcd, startNodes, startSpanSink, type SystemUnderTest, systemOf } from "./servers.js"

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
    rounds: { type: "string", default: "3" },
    scenarios: { type: "string", default: "L,G,S,C,D,E,T,T100,TLS" },
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
  /** Get and Set phases per scenario, alternated; the report shows the median round (the machine is noisy). */
  rounds: Math.round(positive("rounds", flags.rounds)),
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

/** The gRPC calls a scenario's h2load processes make: each method's path, and the framed request of process `index` (its own key). */
interface Calls {
  readonly path: (method: "Get" | "Set") => string
  readonly body: (method: "Get" | "Set", index: number) => Uint8Array
}

/** pb.CacheService Get and Set at a consistency. */
const cacheCalls = (consistency: Consistency): Calls => ({
  path: (method) => `/pb.CacheService/${method}`,
  body: (method, index) => {
    const key = keyName(index)
    return grpcFrame(method === "Get"
      ? GetRequest.encode({ key, consistency }).finish()
      : SetRequest.encode({ key, value: "v".repeat(options.valueSize), consistency }).finish())
  }
})

/** A length-delimited protobuf field (wire type 2). */
const bytesField = (field: number, bytes: Uint8Array) => {
  const head = [(field << 3) | 2]
  for (let n = bytes.length; ; n >>>= 7) {
    if (n < 0x80) {
      head.push(n)
      break
    }
    head.push((n & 0x7f) | 0x80)
  }
  return Buffer.concat([Buffer.from(head), bytes])
}

/**
 * etcd's KV: Range (RangeRequest field 1 key; serializable unset, so
 * linearizable) for Get, Put (PutRequest field 1 key, 2 value) for Set.
 */
const etcdCalls: Calls = {
  path: (method) => (method === "Get" ? "/etcdserverpb.KV/Range" : "/etcdserverpb.KV/Put"),
  body: (method, index) => {
    const key = Buffer.from(keyName(index))
    return grpcFrame(method === "Get"
      ? bytesField(1, key)
      : Buffer.concat([bytesField(1, key), bytesField(2, Buffer.from("v".repeat(options.valueSize)))]))
  }
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
 * h2load resetting the calls still in flight when its time is up. A server
 * that counts those under another code (`cutOffCode`, etcd's UNKNOWN) has
 * that code left out up to the calls in flight, by method (`cutOff`).
 */
const errorsBetween = (before: Map<string, number>, after: Map<string, number>, cutOffCode = "CANCELLED", cutOff = new Map<string, number>()) => {
  const errors: Record<string, number> = {}
  for (const [id, count] of after) {
    let delta = count - (before.get(id) ?? 0)
    if (id.endsWith(` ${cutOffCode}`)) delta -= cutOff.get(id.slice(0, id.indexOf(" "))) ?? 0
    if (delta > 0 && id.includes(" ") && !id.startsWith("batch") && !id.endsWith(" OK") && !id.endsWith(" CANCELLED")) errors[id] = delta
  }
  return errors
}

/** The round with the median calls/s (of an even number, the lower middle one). */
const medianRound = (rounds: ReadonlyArray<H2loadResult>): H2loadResult =>
  [...rounds].sort((a, b) => a.rps - b.rps)[Math.floor((rounds.length - 1) / 2)]!

/** How one system is measured. */
interface How {
  readonly consistency: Consistency
  readonly mixed?: boolean
  readonly tls?: boolean
  /** pb.CacheService at `consistency` unless told. */
  readonly calls?: Calls
  /** The address a lone Set is sent to, one call at a time; no such phase without. */
  readonly serialTo?: string
}

/** One scenario: a name and description for the report, the system, how to load it. */
interface Scenario {
  readonly name: string
  readonly description: string
  readonly system: SystemUnderTest
  readonly how: How
}

/** Nodes that write CPU profiles (`pnpm bench:profile`) take one per phase (see cpuProfiler.mjs). */
const profiled = async <A>(system: SystemUnderTest, phase: () => Promise<A>): Promise<A> => {
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

/** The calls a scenario's h2load processes make. */
const callsOf = (how: How): Calls => how.calls ?? cacheCalls(how.consistency)

const codesOf = (system: SystemUnderTest) => system.codes ?? (system.admins.length > 0 ? () => scrapeCodes(system.admins) : undefined)

/**
 * Get and Set throughput with h2load against systems running side by side,
 * in rounds: each round loads every system in turn (Get, then Set), so a
 * slow spell of this shared machine falls on all of them rather than on
 * one; the report takes each system's median round. Then, system by
 * system, a lone Set (one call at a time, to `serialTo`) and the mixed
 * workload, if asked.
 */
const measureTogether = async (scenarios: ReadonlyArray<Scenario>): Promise<Array<ScenarioResult>> => {
  const before = await Promise.all(scenarios.map(({ system }) => codesOf(system)?.()))
  const rounds = scenarios.map(() => ({ get: [] as Array<H2loadResult>, set: [] as Array<H2loadResult> }))
  const h2load = ({ system, how }: Scenario, method: "Get" | "Set", targets: ReadonlyArray<{ address: string; body: Uint8Array }>, inFlight: number) =>
    runH2load({ method, path: callsOf(how).path(method), targets, inFlight, durationS: options.durationS, warmupS: options.warmupS, servers: system.processes, tls: how.tls ?? false })
  for (let round = 1; round <= options.rounds; round++) {
    for (const [i, scenario] of scenarios.entries()) {
      const calls = callsOf(scenario.how)
      for (const method of ["Get", "Set"] as const) {
        const targets = scenario.system.addresses.flatMap((address, node) =>
          Array.from({ length: PROCESSES_PER_NODE }, (_, p) => ({ address, body: calls.body(method, node * PROCESSES_PER_NODE + p) }))
        )
        log(`${scenario.name}: ${method} with h2load, ${targets.length} processes, ${options.inFlight} in flight (round ${round} of ${options.rounds})`)
        rounds[i]![method === "Get" ? "get" : "set"].push(await profiled(scenario.system, () => h2load(scenario, method, targets, options.inFlight)))
      }
    }
  }
  const results: Array<ScenarioResult> = []
  for (const [i, scenario] of scenarios.entries()) {
    const { name, description, system, how } = scenario
    const calls = callsOf(how)
    const phases: { get: H2loadResult; set: H2loadResult; mixed?: MixedResult; serialSet?: H2loadResult } = {
      get: medianRound(rounds[i]!.get),
      set: medianRound(rounds[i]!.set)
    }
    // Not profiled: `pnpm bench:profile` numbers its profiles by the phases above and the mixed one.
    if (how.serialTo !== undefined) {
      log(`${name}: Set one call at a time (h2load -c 1 -m 1) to ${how.serialTo}`)
      phases.serialSet = await h2load(scenario, "Set", [{ address: how.serialTo, body: calls.body("Set", 0) }], 1)
    }
    if (how.mixed === true) {
      log(`${name}: mixed workload from a grpc-js client, ${options.mixedInFlight} in flight`)
      phases.mixed = await profiled(system, () => runMixed({
        targets: system.addresses,
        inFlight: options.mixedInFlight,
        durationS: options.durationS,
        warmupS: options.warmupS,
        keys: options.keys,
        distribution: options.distribution,
        valueSize: options.valueSize,
        readRatio: options.readRatio,
        consistency: Consistency[how.consistency] as "ONE" | "QUORUM" | "ALL",
        seed: 42
      }, system.processes))
    }
    const after = await codesOf(system)?.()
    // At most the calls in flight can be cut off at the end of an h2load phase; by gRPC method (the path's last part).
    const cutOff = new Map<string, number>()
    for (const phase of [...rounds[i]!.get, ...rounds[i]!.set, phases.serialSet]) {
      const method = phase?.path.split("/").pop()
      if (phase !== undefined && method !== undefined) cutOff.set(method, (cutOff.get(method) ?? 0) + phase.inFlight)
    }
    const start = before[i]
    const errors = start === undefined || after === undefined ? {} : errorsBetween(start, after, system.cutOffCode, cutOff)
    const batches = (after?.get("batches") ?? 0) - (start?.get("batches") ?? 0)
    const batchOps = (after?.get("batch ops") ?? 0) - (start?.get("batch ops") ?? 0)
    const roundsRps = { get: rounds[i]!.get.map((r) => r.rps), set: rounds[i]!.set.map((r) => r.rps) }
    results.push({ name, description, ...phases, rounds: roundsRps, errors, ...(batches > 0 ? { peerBatches: { batches, ops: batchOps } } : {}) })
  }
  return results
}

/** One system on its own. */
const measure = async (name: string, description: string, system: SystemUnderTest, how: How): Promise<ScenarioResult> =>
  (await measureTogether([{ name, description, system, how }]))[0]!

const consistencyOf = Consistency[options.consistency]
const results: Array<ScenarioResult> = []
const wanted = (name: string) => options.scenarios.has(name)

// One node and the bare servers it is compared with run side by side, their rounds interleaved (see measureTogether).
{
  const together: Array<Scenario> = []
  for (const [name, script, host, description] of [
    ["L", "bareServer.ts", "127.0.0.101", "bare nice-grpc server, a Map"],
    ["G", "bareGrpcJsServer.ts", "127.0.0.111", "bare grpc-js server (protobufjs), a Map"]
  ] as const) {
    if (!wanted(name)) continue
    const bare = await startBare(host, script)
    await populate(bare.addresses, options.keys, options.valueSize)
    together.push({ name, description, system: bare, how: { consistency: consistencyOf, mixed: true, serialTo: bare.addresses[0]! } })
  }
  if (wanted("S")) {
    const node = await startNodes(["127.0.0.102"], options.nodeEnv)
    await populate(node.addresses, options.keys, options.valueSize)
    together.push({ name: "S", description: "one node", system: node, how: { consistency: consistencyOf, mixed: true, serialTo: node.addresses[0]! } })
  }
  try {
    if (together.length > 0) results.push(...await measureTogether(together))
  } finally {
    await Promise.all(together.map(({ system }) => system.stop()))
  }
}
// Three nodes and etcd side by side the same way; then the cluster alone at ONE, and with a node killed.
if (wanted("C") || wanted("D") || wanted("E")) {
  const cluster = wanted("C") || wanted("D") ? await startNodes(["127.0.0.103", "127.0.0.104", "127.0.0.105"], options.nodeEnv) : undefined
  const etcd = wanted("E") ? await startEtcd(["127.0.0.108", "127.0.0.109", "127.0.0.110"]) : undefined
  try {
    const together: Array<Scenario> = []
    if (cluster !== undefined) {
      await populate(cluster.addresses, options.keys, options.valueSize)
      if (wanted("C")) together.push({ name: "C", description: "three nodes, QUORUM", system: cluster, how: { consistency: Consistency.QUORUM, mixed: true, serialTo: cluster.addresses[0]! } })
    }
    if (etcd !== undefined) {
      await populateEtcd(etcd.addresses, options.keys, options.valueSize)
      // No mixed workload (its client speaks pb.CacheService); the lone Puts go to the leader, etcd's shortest path.
      together.push({ name: "E", description: "etcd 3.4, three members, Range / Put", system: etcd, how: { consistency: consistencyOf, calls: etcdCalls, serialTo: await etcd.leader() } })
    }
    if (together.length > 0) results.push(...await measureTogether(together))
    await etcd?.stop()
    if (cluster !== undefined && wanted("C")) results.push(await measure("C-ONE", "three nodes, ONE", cluster, { consistency: Consistency.ONE }))
    if (cluster !== undefined && wanted("D")) {
      const [a, b, killed] = cluster.nodes
      await killed!.stop("SIGKILL")
      await Promise.all([a!, b!].map((node) => node.waitForLog((line) => line["msg"] === "member dead" && line["member"] === killed!.address)))
      results.push(await measure("D", "three nodes, one killed, QUORUM", await systemOf([a!, b!]), { consistency: Consistency.QUORUM }))
    }
  } finally {
    await cluster?.stop()
    await etcd?.stop()
  }
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
  const result = await measure(name, sampler === undefined ? "one node, tracing at the default 1%" : "one node, tracing every call", node, { consistency: consistencyOf })
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
    results.push(await measure(tls ? "TLS-on" : "TLS-off", tls ? "one node, TLS (PEER_TLS_*)" : "one node, plain text", node, { consistency: consistencyOf, tls }))
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
// Rows in the order of the scenarios' letters, however they were run together.
const ORDER = ["L", "G", "S", "C", "C-ONE", "D", "E", "T", "T100", "TLS-off", "TLS-on"]
results.sort((a, b) => ORDER.indexOf(a.name) - ORDER.indexOf(b.name))
for (const result of results) writeFileSync(join(resultsDir, `${result.name}.json`), JSON.stringify({ meta, ...result }, null, 2) + "\n")
writeFileSync(join(options.out, "chart.svg"), renderChart(results))
const report = renderReport(meta, results)
writeFileSync(join(options.out, "README.md"), report)
process.stdout.write(report)
