import type { ScenarioResult } from "./report.js"

const WIDTH = 900
const PANEL = 260
const LEFT = 70
const COLORS = { get: "#3b7dd8", set: "#e07b39", p50: "#9ecae1", p90: "#6baed6", p99: "#3182bd", p999: "#08519c" }

const escape = (text: string) => text.replace(/&/g, "&amp;").replace(/</g, "&lt;")

/** A grouped bar chart: one group per scenario, one bar per series; values scaled to the panel's maximum. */
const panel = (
  top: number,
  title: string,
  unit: string,
  groups: ReadonlyArray<{ readonly label: string; readonly bars: ReadonlyArray<{ readonly series: keyof typeof COLORS; readonly value: number }> }>
) => {
  const max = Math.max(1, ...groups.flatMap((g) => g.bars.map((b) => b.value)))
  const plotW = WIDTH - LEFT - 20
  const plotH = PANEL - 60
  const groupW = plotW / Math.max(1, groups.length)
  const parts = [`<text x="${LEFT}" y="${top + 18}" font-size="15" font-weight="bold">${escape(title)}</text>`]
  for (let i = 0; i <= 4; i++) {
    const y = top + 30 + plotH - (plotH * i) / 4
    parts.push(`<line x1="${LEFT}" x2="${WIDTH - 20}" y1="${y}" y2="${y}" stroke="#ddd"/>`)
    parts.push(`<text x="${LEFT - 6}" y="${y + 4}" font-size="11" text-anchor="end">${Math.round((max * i) / 4)}</text>`)
  }
  parts.push(`<text x="14" y="${top + 30 + plotH / 2}" font-size="11" transform="rotate(-90 14 ${top + 30 + plotH / 2})" text-anchor="middle">${escape(unit)}</text>`)
  groups.forEach((group, g) => {
    const barW = (groupW * 0.8) / Math.max(1, group.bars.length)
    group.bars.forEach((bar, b) => {
      const h = (plotH * bar.value) / max
      const x = LEFT + g * groupW + groupW * 0.1 + b * barW
      const y = top + 30 + plotH - h
      parts.push(`<rect x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${(barW - 2).toFixed(1)}" height="${h.toFixed(1)}" fill="${COLORS[bar.series]}"><title>${escape(`${group.label} ${bar.series}: ${bar.value}`)}</title></rect>`)
    })
    parts.push(`<text x="${(LEFT + g * groupW + groupW / 2).toFixed(1)}" y="${top + 30 + plotH + 16}" font-size="12" text-anchor="middle">${escape(group.label)}</text>`)
  })
  const legend = [...new Set(groups.flatMap((g) => g.bars.map((b) => b.series)))]
  legend.forEach((series, i) => {
    const x = WIDTH - 20 - (legend.length - i) * 70
    parts.push(`<rect x="${x}" y="${top + 6}" width="12" height="12" fill="${COLORS[series]}"/><text x="${x + 16}" y="${top + 17}" font-size="11">${series}</text>`)
  })
  return parts.join("\n")
}

/** bench/chart.svg: throughput per scenario, then Get and Set latency percentiles. */
export const renderChart = (results: ReadonlyArray<ScenarioResult>): string => {
  const throughput = results.map((r) => ({
    label: r.name,
    bars: [{ series: "get" as const, value: r.get?.rps ?? 0 }, { series: "set" as const, value: r.set?.rps ?? 0 }]
  }))
  const latency = (phase: "get" | "set") =>
    results.map((r) => {
      const l = r[phase]?.latency
      return {
        label: r.name,
        bars: [
          { series: "p50" as const, value: l?.p50Ms ?? 0 },
          { series: "p90" as const, value: l?.p90Ms ?? 0 },
          { series: "p99" as const, value: l?.p99Ms ?? 0 },
          { series: "p999" as const, value: l?.p999Ms ?? 0 }
        ]
      }
    })
  const height = PANEL * 3 + 10
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" font-family="sans-serif" viewBox="0 0 ${WIDTH} ${height}">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    panel(0, "Throughput (h2load)", "calls/s", throughput),
    panel(PANEL, "Get latency percentiles", "ms", latency("get")),
    panel(PANEL * 2, "Set latency percentiles", "ms", latency("set")),
    "</svg>",
    ""
  ].join("\n")
}
