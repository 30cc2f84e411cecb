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
  /** Non-OK calls the nodes counted, by "Method CODE" (warm-up included). */
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
const errorsText = (errors: Readonly<Record<string, number>>) => {
  const entries = Object.entries(errors)
  return entries.length === 0 ? "none" : entries.map(([id, n]) => `${id}: ${n}`).join(", ")
}

/** The targets of the performance issue, checked against this run. */
const targets = (results: ReadonlyArray<ScenarioResult>) => {
  const by = (name: string) => results.find((r) => r.name === name)
  const L = by("L")
  const S = by("S")
  const C = by("C")
  const D = by("D")
  const rows: Array<[string, string, boolean | undefined]> = []
  const check = (label: string, value: number | undefined, base: number | undefined, min: number, atMost = false) => {
    if (value === undefined || base === undefined) return
    const r = value / base
    rows.push([label, `${r.toFixed(3)}× (${Math.round(value)} vs ${Math.round(base)})`, atMost ? r <= min : r >= min])
  }
  check("(S) Get ≥ 0.85× (L)", S?.get?.rps, L?.get?.rps, 0.85)
  check("(S) Set ≥ 0.80× (L)", S?.set?.rps, L?.set?.rps, 0.8)
  check("(S) Get p99 ≤ 1.3× (L)'s", S?.get?.latency.p99Ms, L?.get?.latency.p99Ms, 1.3, true)
  check("(S) Set p99 ≤ 1.3× (L)'s", S?.set?.latency.p99Ms, L?.set?.latency.p99Ms, 1.3, true)
  check("(C) QUORUM Get ≥ 1.0× (S)", C?.get?.rps, S?.get?.rps, 1.0)
  check("(C) QUORUM Set ≥ 0.8× (S)", C?.set?.rps, S?.set?.rps, 0.8)
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

/** bench/README.md: how the run was made, then every figure with its ratio to (L). */
export const renderReport = (meta: RunMeta, results: ReadonlyArray<ScenarioResult>): string => {
  const L = results.find((r) => r.name === "L")
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
    "Latency columns are p50 / p99 / p99.9 in ms. `× L` is the ratio to the bare nice-grpc server.",
    "",
    "| scenario | Get ops/s | × L | Set ops/s | × L | Get latency | Set latency | errors (the nodes' /metrics; CANCELLED at the end of a run left out) |",
    "|---|---|---|---|---|---|---|---|",
    ...results.map((r) =>
      `| ${r.name}: ${r.description} | ${r.get?.rps ?? ""} | ${ratio(r.get?.rps, L?.get?.rps)} | ${r.set?.rps ?? ""} | ${ratio(r.set?.rps, L?.set?.rps)} | ${percentiles(r.get?.latency)} | ${percentiles(r.set?.latency)} | ${errorsText(r.errors)} |`
    ),
    "",
    "## Targets",
    "",
    "| target | measured | met |",
    "|---|---|---|",
    ...targets(results).map(([label, value, met]) => `| ${label} | ${value} | ${met ? "yes" : "no"} |`),
    "",
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
    "Cores each process used during the measured window (2 = both cores of this machine).",
    "",
    "| scenario | phase | busiest | every process |",
    "|---|---|---|---|",
    ...results.flatMap((r) =>
      (["get", "set", "mixed"] as const).flatMap((phase) => {
        const cpu = r[phase]?.cpu
        return cpu === undefined ? [] : [`| ${r.name} | ${phase} | ${busiest(cpu)} | ${cpuText(cpu)} |`]
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
