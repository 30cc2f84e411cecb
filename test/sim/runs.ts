import { checkHistory, type Verdict } from "../../testkit/linearizability/checker.js"
import type { NetworkOptions } from "./cluster/network.js"
import { SimCluster } from "./cluster/SimCluster.js"
import { convergenceProblem, DEFAULT_SCHEDULE, type Log, runSchedule, type ScheduleOptions } from "./cluster/schedule.js"
import { runClients } from "./cluster/workload.js"

/** The simulated network of ring agreement runs: some loss, duplication, delays up to 30 ms (so reordering), 300 ms timeouts. */
export const NETWORK: NetworkOptions = { lossRate: 0.03, duplicateRate: 0.03, minDelayMs: 1, maxDelayMs: 30, timeoutMs: 300 }
/** Runs with data lose more messages: more writes reach only a quorum, which is what movement and fencing must not lose. */
export const DATA_NETWORK: NetworkOptions = { ...NETWORK, lossRate: 0.1 }

/** How many seeds a suite runs: SIM_SEEDS overrides (e.g. SIM_SEEDS=20000 for a long run). */
export const seedCount = (fallback: number) => Number(process.env["SIM_SEEDS"] ?? fallback)

/** A schedule's size from its seed: 3 to 7 nodes. */
export const scheduleFor = (seed: number, overrides: Partial<ScheduleOptions> = {}): ScheduleOptions => ({
  ...DEFAULT_SCHEDULE,
  nodes: 3 + (seed % 5),
  ...overrides
})

export interface RunReport {
  readonly seed: number
  readonly violations: ReadonlyArray<string>
  readonly convergence: string | undefined
  readonly log: Log
  readonly installs: number
}

/** One seeded run of ring agreement alone (no data): S1 and convergence after the faults heal. */
export const runPlacement = (seed: number, options: { readonly detectorNoise?: number } = {}): RunReport => {
  const cluster = new SimCluster({ seed, network: NETWORK, detectorNoise: options.detectorNoise ?? 0 })
  const log: Log = []
  runSchedule(cluster, scheduleFor(seed), log)
  return { seed, violations: cluster.violations, convergence: convergenceProblem(cluster), log, installs: cluster.installs }
}

export interface DataReport extends RunReport {
  readonly verdict: Verdict
  readonly operations: number
  readonly ok: number
  /** Keys some replica evicted or expired during the run. */
  readonly forgottenKeys: number
}

/**
 * One seeded run with the data path and clients: every key's history must
 * be linearizable (and the final reads see every acknowledged write).
 * Forced removals are left out: they may lose writes by design. With
 * `forgetting`, some nodes hold two records only, a third of the writes
 * carry TTLs and tombstones are collected: a key that some replica evicted
 * or expired may vanish (but an older value must never return); every
 * other key is checked as a plain register, so a NOT_FOUND nobody caused
 * by deleting or forgetting fails the run.
 */
export const runData = (seed: number, bugs: SimCluster["bugs"] = {}, options: { readonly forgetting?: boolean } = {}): DataReport => {
  const forgetting = options.forgetting === true
  const cluster = new SimCluster({ seed, network: DATA_NETWORK, withData: true, bugs, forgetting })
  const log: Log = []
  const schedule = scheduleFor(seed, { forcedRemovals: false })
  const history = runClients(cluster, { clients: 6, keys: 5, deadlineMs: 3000, untilMs: schedule.faultyMs + 4000, ttls: forgetting })
  runSchedule(cluster, schedule, log)
  const vanishing = history.filter((op) => cluster.forgottenKeys.has(op.key))
  const kept = history.filter((op) => !cluster.forgottenKeys.has(op.key))
  const strict = checkHistory(kept)
  const lenient = checkHistory(vanishing, { mayVanish: true })
  return {
    seed,
    violations: cluster.violations,
    convergence: undefined,
    log,
    installs: cluster.installs,
    verdict: { ok: strict.ok && lenient.ok, keys: [...strict.keys, ...lenient.keys], checkedOps: strict.checkedOps + lenient.checkedOps },
    operations: history.length,
    ok: history.filter((op) => op.outcome === "ok").length,
    forgottenKeys: cluster.forgottenKeys.size
  }
}

/** What a failing run prints: the seed to pin, and what happened. */
export const describeFailure = (report: RunReport, what: string): string =>
  `seed ${report.seed}: ${what}\nschedule:\n${report.log.join("\n")}`
