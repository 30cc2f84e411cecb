/** What a finding is: the properties checked after each call and each batch. */
export type FindingKind =
  | "crash" // a node process died
  | "memory" // a node's RSS passed the bound (it was killed there)
  | "hang" // a call got no status within its deadline
  | "known keys" // a known key did not read back as written
  | "contract" // a call's status broke the documented contract (accepted an invalid request, an intruder got through)
  | "aborted" // the run of a target stopped early (too many restarts)

export interface Finding {
  readonly kind: FindingKind
  readonly target: string
  readonly phase: string
  /** FUZZ_SEED, phase and batch: with the same seed the same batch is generated again. */
  readonly where: string
  readonly method: string
  readonly shape: string
  readonly detail: string
}

/** Calls per method, statuses per method, and findings of one run. */
export class FuzzReport {
  private readonly statuses = new Map<string, Map<string, number>>()
  readonly findings: Array<Finding> = []
  readonly notes: Array<string> = []
  skippedUnsafe = 0

  constructor(private readonly verbose = false) {}

  private readonly slowest = new Map<string, number>()
  private readonly details = new Map<string, string>()

  record(method: string, status: string, elapsedMs = 0, detail = ""): void {
    this.slowest.set(method, Math.max(this.slowest.get(method) ?? 0, elapsedMs))
    if (detail !== "" && !this.details.has(`${method} ${status}`)) this.details.set(`${method} ${status}`, detail.slice(0, 100))
    let byStatus = this.statuses.get(method)
    if (byStatus === undefined) this.statuses.set(method, byStatus = new Map())
    byStatus.set(status, (byStatus.get(status) ?? 0) + 1)
  }

  private readonly observations = new Map<string, { first: string; count: number }>()

  /** Something odd that is no failure (an HTTP 500 on a malformed admin request): counted, the first one kept. */
  observe(key: string, first: string): void {
    const seen = this.observations.get(key)
    if (seen === undefined) this.observations.set(key, { first, count: 1 })
    else seen.count++
  }

  add(finding: Finding): void {
    this.findings.push(finding)
  }

  get calls(): number {
    let total = 0
    for (const byStatus of this.statuses.values()) for (const n of byStatus.values()) total += n
    return total
  }

  get methods(): number {
    return this.statuses.size
  }

  /** The table the suite prints: one line per method with its count and statuses, then the findings. */
  format(title: string): string {
    const lines = [`== fuzz: ${title}: ${this.calls} calls to ${this.methods} methods, ${this.findings.length} findings ==`]
    const width = Math.max(...[...this.statuses.keys()].map((k) => k.length), 10)
    for (const [method, byStatus] of [...this.statuses.entries()].sort(([a], [b]) => a.localeCompare(b))) {
      const total = [...byStatus.values()].reduce((a, b) => a + b, 0)
      const parts = [...byStatus.entries()].sort(([, a], [, b]) => b - a).map(([s, n]) => `${s} ${n}`)
      const slowest = `${((this.slowest.get(method) ?? 0) / 1000).toFixed(1)} s`
      lines.push(`  ${method.padEnd(width)} ${String(total).padStart(5)}  slowest ${slowest.padStart(6)}  ${parts.join(", ")}`)
    }
    if (this.skippedUnsafe > 0) lines.push(`  (${this.skippedUnsafe} generated inputs dropped: they named a host off this machine)`)
    if (this.verbose) for (const [key, detail] of [...this.details.entries()].sort()) lines.push(`  first ${key}: ${detail}`)
    for (const [key, { first, count }] of this.observations) lines.push(`  observed (not a failure) ${key} x${count}, first: ${first.slice(0, 240)}`)
    for (const note of this.notes) lines.push(`  note: ${note}`)
    for (const [i, f] of this.findings.entries()) {
      lines.push(`  finding ${i + 1} [${f.kind}] ${f.target} / ${f.phase} / ${f.method} at ${f.where}`)
      lines.push(`    ${f.detail}`)
      if (f.shape !== "") lines.push(`    input: ${f.shape}`)
    }
    return lines.join("\n")
  }
}
