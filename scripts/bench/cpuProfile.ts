/**
 * Reading V8 CPU profiles (`node --cpu-prof`): where the time went by part
 * of the stack, the costliest functions, and a flame graph as SVG.
 */

interface CallFrame {
  readonly functionName: string
  readonly url: string
  readonly lineNumber: number
}
interface ProfileNode {
  readonly id: number
  readonly callFrame: CallFrame
  readonly hitCount?: number
  readonly children?: ReadonlyArray<number>
}
export interface CpuProfile {
  readonly nodes: ReadonlyArray<ProfileNode>
  readonly startTime: number
  readonly endTime: number
  readonly samples: ReadonlyArray<number>
}

/** The parts of the stack a sample's own frame can belong to, most specific first. */
const PARTS: ReadonlyArray<readonly [string, (frame: CallFrame) => boolean]> = [
  ["idle", (f) => f.functionName === "(idle)"],
  ["GC", (f) => f.functionName === "(garbage collector)"],
  ["V8 and native (program)", (f) => f.functionName === "(program)"],
  ["Node HTTP/2", (f) => /node:internal\/http2|node:http2/.test(f.url)],
  ["Node AbortController", (f) => f.url === "node:internal/abort_controller"],
  ["Node module loading", (f) => /node:internal\/modules/.test(f.url)],
  ["Node streams, net, timers", (f) => /node:internal\/(streams|stream_base|net|timers|process\/task_queues)|node:(net|stream|events)/.test(f.url)],
  ["grpc-js", (f) => f.url.includes("@grpc/grpc-js")],
  ["nice-grpc", (f) => /nice-grpc|abort-controller-x/.test(f.url)],
  ["protobuf codecs", (f) => /@bufbuild\/protobuf|\/generated\//.test(f.url)],
  ["Effect", (f) => /\/effect\/dist|@effect\//.test(f.url)],
  ["prom-client", (f) => f.url.includes("prom-client")],
  ["OpenTelemetry", (f) => f.url.includes("@opentelemetry")],
  ["tsx loader", (f) => f.url.includes("/tsx/")],
  ["this node's code", (f) => f.url.includes("/src/")],
  ["other Node internals", (f) => f.url.startsWith("node:")],
  ["other", () => true]
]
export const partOf = (frame: CallFrame): string => PARTS.find(([, test]) => test(frame))![0]

export interface PartShare {
  readonly part: string
  readonly samples: number
  /** Of all samples, idle included. */
  readonly share: number
}

/** Self samples by part of the stack, largest first. */
export const byPart = (profile: CpuProfile): ReadonlyArray<PartShare> => {
  const hits = selfHits(profile)
  const total = profile.samples.length
  const parts = new Map<string, number>()
  for (const node of profile.nodes) {
    const count = hits.get(node.id) ?? 0
    if (count > 0) parts.set(partOf(node.callFrame), (parts.get(partOf(node.callFrame)) ?? 0) + count)
  }
  return [...parts].map(([part, samples]) => ({ part, samples, share: samples / total })).sort((a, b) => b.samples - a.samples)
}

/** The functions with the most self samples (one row per function and place). */
export const topFunctions = (profile: CpuProfile, count: number) => {
  const hits = selfHits(profile)
  const total = profile.samples.length
  const rows = new Map<string, { name: string; part: string; samples: number }>()
  for (const node of profile.nodes) {
    const samples = hits.get(node.id) ?? 0
    if (samples === 0) continue
    const { functionName, url, lineNumber } = node.callFrame
    const place = url === "" ? "" : ` ${url.replace(/^.*node_modules\/(\.pnpm\/[^/]+\/node_modules\/)?/, "").replace(/^file:\/\/.*\/src\//, "src/")}:${lineNumber + 1}`
    const id = `${functionName || "(anonymous)"}${place}`
    const row = rows.get(id) ?? { name: id, part: partOf(node.callFrame), samples: 0 }
    rows.set(id, { ...row, samples: row.samples + samples })
  }
  return [...rows.values()].sort((a, b) => b.samples - a.samples).slice(0, count).map((row) => ({ ...row, share: row.samples / total }))
}

/** How long the profile ran, in seconds. */
export const durationS = (profile: CpuProfile) => (profile.endTime - profile.startTime) / 1e6

const selfHits = (profile: CpuProfile): Map<number, number> => {
  const hits = new Map<number, number>()
  for (const id of profile.samples) hits.set(id, (hits.get(id) ?? 0) + 1)
  return hits
}

const COLOURS: Record<string, string> = {
  "GC": "#d62728",
  "V8 and native (program)": "#8c564b",
  "Node HTTP/2": "#1f77b4",
  "Node streams, net, timers": "#6baed6",
  "Node AbortController": "#17becf",
  "Node module loading": "#393b79",
  "grpc-js": "#ff7f0e",
  "nice-grpc": "#ffbb78",
  "protobuf codecs": "#9467bd",
  "Effect": "#2ca02c",
  "prom-client": "#e377c2",
  "OpenTelemetry": "#f7b6d2",
  "tsx loader": "#7f7f7f",
  "this node's code": "#bcbd22",
  "other Node internals": "#9edae5",
  "other": "#c7c7c7"
}

const escape = (text: string) => text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")

/**
 * A flame graph of the busy samples (idle left out): each frame as wide as
 * the samples under it, callers below callees, coloured by part of the
 * stack. Frames narrower than a pixel are left out.
 */
export const flameSvg = (profile: CpuProfile, title: string, width = 1200): string => {
  const hits = selfHits(profile)
  const byId = new Map(profile.nodes.map((node) => [node.id, node]))
  const totals = new Map<number, number>()
  const totalOf = (id: number): number => {
    const known = totals.get(id)
    if (known !== undefined) return known
    const node = byId.get(id)!
    const idle = node.callFrame.functionName === "(idle)"
    const sum = (idle ? 0 : hits.get(id) ?? 0) + (node.children ?? []).reduce((acc, child) => acc + totalOf(child), 0)
    totals.set(id, sum)
    return sum
  }
  const root = profile.nodes[0]!
  const busy = totalOf(root.id)
  const ROW = 16
  const frames: Array<string> = []
  let depthMax = 0
  const draw = (id: number, x: number, depth: number) => {
    const node = byId.get(id)!
    const w = (totalOf(id) / busy) * width
    if (w < 1) return
    depthMax = Math.max(depthMax, depth)
    if (depth > 0) {
      const name = node.callFrame.functionName || "(anonymous)"
      const part = partOf(node.callFrame)
      const label = w > 30 ? escape(name.slice(0, Math.floor(w / 7))) : ""
      const tip = `${escape(name)} (${part}) ${(totalOf(id) / busy * 100).toFixed(1)}%`
      frames.push(
        `<g><title>${tip}</title><rect x="${x.toFixed(1)}" y="${-depth * ROW}" width="${(w - 0.5).toFixed(1)}" height="${ROW - 1}" fill="${COLOURS[part] ?? "#ccc"}"/>` +
          (label === "" ? "" : `<text x="${(x + 3).toFixed(1)}" y="${-depth * ROW + 12}">${label}</text>`) + `</g>`
      )
    }
    let offset = x
    for (const child of node.children ?? []) {
      draw(child, offset, depth + 1)
      offset += (totalOf(child) / busy) * width
    }
  }
  draw(root.id, 0, 0)
  const height = (depthMax + 3) * ROW
  const legend = Object.entries(COLOURS).map(([part, colour], i) =>
    `<rect x="${(i % 7) * 170}" y="${-(depthMax + 2) * ROW - 30 + Math.floor(i / 7) * 14}" width="10" height="10" fill="${colour}"/>` +
    `<text x="${(i % 7) * 170 + 14}" y="${-(depthMax + 2) * ROW - 21 + Math.floor(i / 7) * 14}">${escape(part)}</text>`
  ).join("")
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height + 60}" viewBox="0 ${-(height + 30)} ${width} ${height + 60}" font-family="monospace" font-size="11">` +
    `<text x="0" y="${-(height + 14)}" font-size="13">${escape(title)}</text>${legend}${frames.join("")}</svg>\n`
}
