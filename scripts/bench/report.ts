import type { CpuShare } from "./cpu.js"
import type { H2loadResult } from "./h2load.js"
import type { LatencySummary } from "./latency.js"
import type { MixedResult } from "./mixedLoad.js"

/** Everything one scenario measured. */
export interface ScenarioResult {
  readonly name: string
  readonly description: string
  readonly get?: H2loadResult
  readonly set?: H2loadResult
  readonly mixed?: MixedResult
  /** Sets one at a time (one h2load process, `-c 1 -m 1`) to one server of the system. */
  readonly serialSet?: H2loadResult
  /** Calls/s of every Get and Set round; `get` and `set` are the median ones. */
  readonly rounds?: { readonly get: ReadonlyArray<number>; readonly set: ReadonlyArray<number> }
  /** Non-OK calls the nodes (or etcd's members) counted, by "Method CODE" (warm-up included). */
  readonly errors: Readonly<Record<string, number>>
  /** Replica operations sent to peers and the Batch calls that carried them, over the scenario. */
  readonly peerBatches?: { readonly batches: number; readonly ops: number }
  /** What a tracing node exported to the OTLP sink. */
  readonly exported?: { readonly requests: number; readonly bytes: number }
}

export interface RunMeta {
  readonly date: string
  readonly cpus: number
  readonly cpuModel: string
  readonly node: string
  readonly options: Record<string, unknown>
}

const ratio = (value: number | undefined, base: number | undefined) =>
  value === undefined || base === undefined || base === 0 ? "" : (value / base).toFixed(2)
const percentiles = (l: LatencySummary | undefined) => (l === undefined ? "" : `${l.p50Ms} / ${l.p99Ms} / ${l.p999Ms}`)
const cpuText = (cpu: ReadonlyArray<CpuShare> | undefined) =>
  cpu === undefined ? "" : cpu.map((c) => `${c.label} ${c.cores.toFixed(2)}`).join(", ")
const busiest = (cpu: ReadonlyArray<CpuShare> | undefined) => {
  if (cpu === undefined || cpu.length === 0) return ""
  const top = [...cpu].sort((a, b) => b.cores - a.cores)[0]!
  const total = cpu.reduce((sum, c) => sum + (Number.isNaN(c.cores) ? 0 : c.cores), 0)
  return `${top.label} (${top.cores.toFixed(2)} of ${total.toFixed(2)} cores used)`
}
/** Load generators' processes, as opposed to the servers' (whose CPU a call costs). */
const isLoad = (label: string) => label.startsWith("h2load") || label === "node client"
/** µs of server CPU per call answered: the servers' cores over the calls per second. */
const perCall = (phase: { readonly rps: number; readonly cpu: ReadonlyArray<CpuShare> } | undefined) => {
  if (phase === undefined || phase.rps === 0) return ""
  const cores = phase.cpu.filter((c) => !isLoad(c.label) && !Number.isNaN(c.cores)).reduce((sum, c) => sum + c.cores, 0)
  const us = (cores / phase.rps) * 1e6
  return us >= 100 ? String(Math.round(us)) : us.toFixed(1)
}
/** A figure to 3 significant digits (whole numbers from 100 on). */
const figure = (n: number) => (n >= 100 ? String(Math.round(n)) : String(Number(n.toPrecision(3))))
const errorsText = (errors: Readonly<Record<string, number>>) => {
  const entries = Object.entries(errors)
  return entries.length === 0 ? "none" : entries.map(([id, n]) => `${id}: ${n}`).join(", ")
}

/** The targets of the performance issue, checked against this run. */
const targets = (results: ReadonlyArray<ScenarioResult>) => {
  const by = (name: string) => results.find((r) => r.name === name)
  const L = by("L")
  const G = by("G")
  const S = by("S")
  const C = by("C")
  const D = by("D")
  const E = by("E")
  const rows: Array<[string, string, boolean | undefined]> = []
  const check = (label: string, value: number | undefined, base: number | undefined, min: number, atMost = false, unit = "") => {
    if (value === undefined || base === undefined) return
    const r = value / base
    rows.push([label, `${r.toFixed(3)}× (${figure(value)}${unit} vs ${figure(base)}${unit})`, atMost ? r <= min : r >= min])
  }
  check("(S) Get ≥ 1.0× (L)", S?.get?.rps, L?.get?.rps, 1.0)
  check("(S) Set ≥ 1.0× (L)", S?.set?.rps, L?.set?.rps, 1.0)
  check("stretch: (S) Get ≥ 0.85× (G)", S?.get?.rps, G?.get?.rps, 0.85)
  check("stretch: (S) Set ≥ 0.85× (G)", S?.set?.rps, G?.set?.rps, 0.85)
  check("(S) Get p99 ≤ 1.3× (L)'s", S?.get?.latency.p99Ms, L?.get?.latency.p99Ms, 1.3, true, " ms")
  check("(S) Set p99 ≤ 1.3× (L)'s", S?.set?.latency.p99Ms, L?.set?.latency.p99Ms, 1.3, true, " ms")
  check("(C) QUORUM Get ≥ 1.0× (S)", C?.get?.rps, S?.get?.rps, 1.0)
  check("(C) QUORUM Set ≥ 0.8× (S)", C?.set?.rps, S?.set?.rps, 0.8)
  check("(C) QUORUM Get ≥ 1.0× (E) Range", C?.get?.rps, E?.get?.rps, 1.0)
  check("(C) QUORUM Set ≥ 1.0× (E) Put", C?.set?.rps, E?.set?.rps, 1.0)
  check("(C) QUORUM Get p99 ≤ (E) Range's", C?.get?.latency.p99Ms, E?.get?.latency.p99Ms, 1.0, true, " ms")
  check("(C) QUORUM Set p99 ≤ (E) Put's", C?.set?.latency.p99Ms, E?.set?.latency.p99Ms, 1.0, true, " ms")
  check("one call at a time: (C) QUORUM Set p50 ≤ (E) Put p50", C?.serialSet?.latency.p50Ms, E?.serialSet?.latency.p50Ms, 1.0, true, " ms")
  check("(D) Get ≥ 0.8× (C)", D?.get?.rps, C?.get?.rps, 0.8)
  check("(D) Set ≥ 0.8× (C)", D?.set?.rps, C?.set?.rps, 0.8)
  if (D !== undefined) rows.push(["(D) no errors at QUORUM", errorsText(D.errors), Object.keys(D.errors).length === 0])
  return rows
}

/** TLS off and on, side by side: the same node and load, and what TLS costs. */
const tlsSection = (results: ReadonlyArray<ScenarioResult>): Array<string> => {
  const off = results.find((r) => r.name === "TLS-off")
  const on = results.find((r) => r.name === "TLS-on")
  if (off === undefined || on === undefined) return []
  return [
    "## TLS",
    "",
    "One node, the same h2load load, plain text then TLS (PEER_TLS_*: the node certificate on the port, client certificates asked for).",
    "",
    "| | Get calls/s | Set calls/s | Get latency | Set latency |",
    "|---|---|---|---|---|",
    `| off | ${off.get?.rps ?? ""} | ${off.set?.rps ?? ""} | ${percentiles(off.get?.latency)} | ${percentiles(off.set?.latency)} |`,
    `| on | ${on.get?.rps ?? ""} | ${on.set?.rps ?? ""} | ${percentiles(on.get?.latency)} | ${percentiles(on.set?.latency)} |`,
    `| on ÷ off | ${ratio(on.get?.rps, off.get?.rps)} | ${ratio(on.set?.rps, off.set?.rps)} | | |`,
    ""
  ]
}

/** Sets one at a time: the latency of a lone call, with nothing queued ahead of it. */
const serialSection = (results: ReadonlyArray<ScenarioResult>): Array<string> => {
  const serial = results.filter((r) => r.serialSet !== undefined)
  if (serial.length === 0) return []
  return [
    "## One call at a time",
    "",
    "One h2load process, one connection, one call in flight (`-c 1 -m 1`), the same Set (E: Put) of one key over and over, to one server:",
    "(C) at QUORUM to its first node, (E) to its leader.",
    "",
    "| scenario | calls/s | p50 | p90 | p99 | p99.9 | max ms | server CPU µs per call |",
    "|---|---|---|---|---|---|---|---|",
    ...serial.map((r) => {
      const s = r.serialSet!
      const l = s.latency
      return `| ${r.name}: ${r.description} | ${s.rps} | ${l.p50Ms} | ${l.p90Ms} | ${l.p99Ms} | ${l.p999Ms} | ${l.maxMs} | ${perCall(s)} |`
    }),
    ""
  ]
}

/** bench/README.md: how the run was made, then every figure with its ratio to (L) and (G). */
export const renderReport = (meta: RunMeta, results: ReadonlyArray<ScenarioResult>): string => {
  const L = results.find((r) => r.name === "L")
  const G = results.find((r) => r.name === "G")
  const lines = [
    "# Benchmarks",
    "",
    "Written by `pnpm bench` (scripts/bench/). Every scenario runs in the same run on the same machine, so",
    "compare ratios, not absolute figures: this machine is shared and noisy.",
    "",
    `Run ${meta.date} on ${meta.cpus} × ${meta.cpuModel}, Node ${meta.node}. Options: \`${JSON.stringify(meta.options)}\`.`,
    "",
    "## Throughput and latency (h2load, native HTTP/2 load)",
    "",
    "Latency columns are p50 / p99 / p99.9 in ms. `× L` is the ratio to the bare nice-grpc server, `× G` to the bare grpc-js server.",
    "(E) is etcd: its Get is a linearizable Range, its Set a Put. Its errors are those its members counted",
    "(grpc_server_handled_total), less the UNKNOWN it counts the calls h2load cuts off at its end under (up to the calls in flight).",
    "",
    "| scenario | Get ops/s | × L | × G | Set ops/s | × L | × G | Get latency | Set latency | errors (the nodes' /metrics, etcd's; CANCELLED at the end of a run left out) |",
    "|---|---|---|---|---|---|---|---|---|---|",
    ...results.map((r) =>
      `| ${r.name}: ${r.description} | ${r.get?.rps ?? ""} | ${ratio(r.get?.rps, L?.get?.rps)} | ${ratio(r.get?.rps, G?.get?.rps)} | ${r.set?.rps ?? ""} | ${ratio(r.set?.rps, L?.set?.rps)} | ${ratio(r.set?.rps, G?.set?.rps)} | ${percentiles(r.get?.latency)} | ${percentiles(r.set?.latency)} | ${errorsText(r.errors)} |`
    ),
    "",
    "L, G and S ran side by side, and so did C and E: each round loaded every one of them in turn (Get, then Set), so a slow",
    "spell of this shared machine falls on all of them. The table shows each one's median round. Calls/s of every round:",
    "",
    "| scenario | Get rounds | Set rounds |",
    "|---|---|---|",
    ...results.filter((r) => r.rounds !== undefined).map((r) => `| ${r.name} | ${r.rounds!.get.join(", ")} | ${r.rounds!.set.join(", ")} |`),
    "",
    "## Targets",
    "",
    "| target | measured | met |",
    "|---|---|---|",
    ...targets(results).map(([label, value, met]) => `| ${label} | ${value} | ${met ? "yes" : "no"} |`),
    "",
    ...serialSection(results),
    ...tlsSection(results),
    "## Mixed workload (grpc-js client process)",
    "",
    "| scenario | in flight | reads | keys | ops/s | p50 | p90 | p99 | p99.9 | max ms | not OK |",
    "|---|---|---|---|---|---|---|---|---|---|---|",
    ...results.filter((r) => r.mixed !== undefined).map((r) => {
      const m = r.mixed!
      const l = m.latency
      return `| ${r.name} | ${m.inFlight} | ${Math.round(m.readRatio * 100)}% | ${m.distribution} | ${m.rps} | ${l.p50Ms} | ${l.p90Ms} | ${l.p99Ms} | ${l.p999Ms} | ${l.maxMs} | ${errorsText(m.statuses)} |`
    }),
    "",
    "## Where the CPU went",
    "",
    "Cores each process used during the measured window (2 = both cores of this machine), and the CPU the",
    "servers (every process but the load generators) used per call answered: their cores ÷ calls/s.",
    "",
    "| scenario | phase | server CPU µs per call | busiest | every process |",
    "|---|---|---|---|---|",
    ...results.flatMap((r) =>
      (["get", "set", "mixed", "serialSet"] as const).flatMap((phase) => {
        const measured = r[phase]
        return measured === undefined ? [] : [`| ${r.name} | ${phase === "serialSet" ? "one Set at a time" : phase} | ${perCall(measured)} | ${busiest(measured.cpu)} | ${cpuText(measured.cpu)} |`]
      })
    ),
    "",
    ...results.filter((r) => r.peerBatches !== undefined).map((r) =>
      `${r.name}: ${r.peerBatches!.ops} replica operations in ${r.peerBatches!.batches} messages to peers (${(r.peerBatches!.ops / r.peerBatches!.batches).toFixed(1)} a message).`
    ),
    "",
    ...results.filter((r) => r.exported !== undefined).map((r) =>
      `${r.name} exported ${r.exported!.requests} OTLP requests (${Math.round(r.exported!.bytes / 1024)} KiB) over the whole scenario.`
    ),
    "",
    "![throughput and latency](chart.svg)",
    ""
  ]
  return lines.join("\n")
}
