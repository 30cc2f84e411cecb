import { mkdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import type { Verdict } from "../../../testkit/linearizability/checker.js"
import type { Operation } from "../../../testkit/linearizability/history.js"

/** One nemesis period, in ms since the workload's origin. */
export interface NemesisEvent {
  readonly name: string
  readonly description: string
  readonly startMs: number
  readonly endMs: number
}

export interface RunSummary {
  readonly name: string
  readonly nodes: number
  readonly nemesis: string
  readonly consistency: string
  readonly seed: number
  readonly operations: number
  readonly ok: number
  readonly fail: number
  readonly unknown: number
  readonly linearizable: boolean
}

const escape = (text: string) => text.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;" })[c]!)

/** A time window to draw, in ms on the workload's clock. */
interface Window {
  readonly fromMs: number
  readonly toMs: number
}

/** A timeline a person can read: a row per client, nemesis periods shaded, culprit operations outlined. */
export const timelineSvg = (
  history: ReadonlyArray<Operation>,
  events: ReadonlyArray<NemesisEvent>,
  culprits: ReadonlySet<number>,
  window?: Window
) => {
  const clients = Math.max(1, ...history.map((op) => op.client + 1))
  const fromMs = window?.fromMs ?? 0
  const endMs = window?.toMs ?? Math.max(1, ...history.map((op) => op.completedAtMs ?? op.invokedAtMs), ...events.map((e) => e.endMs))
  const width = 1600
  const row = 22
  const clamp = (ms: number) => Math.min(endMs, Math.max(fromMs, ms))
  const x = (ms: number) => 60 + ((clamp(ms) - fromMs) / (endMs - fromMs)) * (width - 80)
  const parts: Array<string> = []
  for (const e of events) {
    parts.push(
      `<rect x="${x(e.startMs)}" y="0" width="${Math.max(1, x(e.endMs) - x(e.startMs))}" height="${clients * row + 20}" fill="#f4cccc" opacity="0.6"><title>${
        escape(`${e.name}: ${e.description}`)
      }</title></rect>`
    )
  }
  for (let c = 0; c < clients; c++) parts.push(`<text x="4" y="${c * row + 15}" font-size="11">client ${c}</text>`)
  for (const op of history) {
    const end = op.completedAtMs ?? endMs
    if (end < fromMs || op.invokedAtMs > endMs) continue
    const color = op.outcome === "fail" ? "#bbbbbb" : op.outcome === "unknown" ? "#f0a030" : op.kind === "get" ? "#4a7bd0" : op.kind === "set" ? "#3a9a50" : "#8a4ad0"
    const label = `${op.kind} ${op.key}${op.value === undefined ? "" : ` = ${op.value}`} (${op.outcome})`
    parts.push(
      `<rect x="${x(op.invokedAtMs)}" y="${op.client * row + 4}" width="${Math.max(1, x(end) - x(op.invokedAtMs))}" height="14" fill="${color}"${
        culprits.has(op.id) ? ` stroke="#d00000" stroke-width="2"` : ""
      }${op.outcome === "unknown" ? ` opacity="0.5"` : ""}><title>${escape(label)}</title></rect>`
    )
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${clients * row + 20}">${parts.join("")}</svg>`
}

/** Writes history.json, nemesis.json, verdict.json and report.html into `dir`. */
export const writeReport = (
  dir: string,
  summary: RunSummary,
  history: ReadonlyArray<Operation>,
  events: ReadonlyArray<NemesisEvent>,
  verdict: Verdict
) => {
  mkdirSync(dir, { recursive: true })
  writeFileSync(join(dir, "history.json"), JSON.stringify(history))
  writeFileSync(join(dir, "nemesis.json"), JSON.stringify(events, null, 2))
  writeFileSync(join(dir, "verdict.json"), JSON.stringify({ summary, verdict }, null, 2))
  const failures = verdict.keys.filter((k) => k.ok !== true)
  // The operation that could not be linearized is the last of its failing prefix; outline it and what overlaps it.
  const zooms = failures.flatMap((k) => {
    const prefix = k.failingPrefix ?? []
    const last = prefix[prefix.length - 1]
    if (last === undefined) return []
    const lastEnd = last.completedAtMs ?? last.invokedAtMs
    const overlapping = prefix.filter((op) => (op.completedAtMs ?? Infinity) >= last.invokedAtMs - 50)
    return [{ key: k.key, ops: history.filter((op) => op.key === k.key), culprits: new Set(overlapping.map((op) => op.id)), window: { fromMs: last.invokedAtMs - 150, toMs: lastEnd + 50 } }]
  })
  const culprits = new Set(zooms.flatMap((z) => [...z.culprits]))
  writeFileSync(
    join(dir, "report.html"),
    `<!doctype html><meta charset="utf-8"><title>${escape(summary.name)}</title>
<body style="font-family: sans-serif">
<h1>${escape(summary.name)}: ${summary.linearizable ? "linearizable" : "NOT linearizable"}</h1>
<p>nemesis ${escape(summary.nemesis)}, consistency ${escape(summary.consistency)}, seed ${summary.seed};
${summary.operations} operations: ${summary.ok} ok, ${summary.fail} fail, ${summary.unknown} unknown.</p>
<p>Rows are clients; bars run from invocation to completion (blue get, green set, purple delete, grey failed,
faded orange unknown); red shading marks nemesis periods; red outlines mark the operation that cannot be linearized and those overlapping it (zoomed in below).</p>
${timelineSvg(history, events, culprits)}
${failures.map((k) => `<h2>key ${escape(k.key)}</h2><pre style="white-space: pre-wrap">${escape(k.explanation ?? "")}</pre>`).join("")}
${zooms.map((z) => `<h2>key ${escape(z.key)}, around the first operation that cannot be linearized (this key's operations only)</h2>${timelineSvg(z.ops, events, z.culprits, z.window)}`).join("")}
<h2>Nemesis timeline</h2><ul>${events.map((e) => `<li>${Math.round(e.startMs)}-${Math.round(e.endMs)} ms: ${escape(e.name)}: ${escape(e.description)}</li>`).join("")}</ul>
</body>`
  )
}
