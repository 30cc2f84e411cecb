/**
 * Plain-text tables for the CLI: a header row, a rule, and columns padded to
 * their widest cell (numbers right-aligned).
 */
export const table = (header: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<string | number | boolean>>): string => {
  const cells = rows.map((row) => row.map((cell) => String(cell)))
  const numeric = header.map((_, i) => rows.length > 0 && rows.every((row) => typeof row[i] === "number"))
  const widths = header.map((title, i) => Math.max(title.length, ...cells.map((row) => (row[i] ?? "").length)))
  const line = (row: ReadonlyArray<string>) =>
    row.map((cell, i) => (numeric[i] ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!))).join("  ").trimEnd()
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...cells.map(line)].join("\n")
}

/** Key/value lines, keys padded to one width. */
export const fields = (pairs: ReadonlyArray<readonly [string, string | number | boolean]>): string => {
  const width = Math.max(0, ...pairs.map(([key]) => key.length))
  return pairs.map(([key, value]) => `${(key + ":").padEnd(width + 1)} ${String(value)}`).join("\n")
}

/** A share of the hash circle as a percentage with one decimal. */
export const percent = (share: number): string => `${(share * 100).toFixed(1)}%`

/** A byte count with a binary unit. */
export const bytes = (n: number): string => {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"]
  let value = n
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return unit === 0 ? `${n} B` : `${value.toFixed(1)} ${units[unit]}`
}

/** A duration in ms, shortened for people: 950ms, 12.3s, 4m 05s, 2h 10m. */
export const ago = (ms: number): string => {
  if (ms < 1000) return `${ms}ms`
  const s = ms / 1000
  if (s < 60) return `${s.toFixed(1)}s`
  const m = Math.floor(s / 60)
  if (m < 60) return `${m}m ${String(Math.floor(s % 60)).padStart(2, "0")}s`
  return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, "0")}m`
}
