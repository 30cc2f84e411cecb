import { PHASES } from "./phases.js"
import type { RunOptions } from "./runner.js"
import { FUZZ_TARGETS } from "./targets.js"

/**
 * The knobs of `pnpm test:fuzz`, all from the environment. By default a
 * fixed seed and a fixed number of calls per target: the same inputs every
 * run, about a minute in all. FUZZ_SECONDS bounds the run by time instead
 * (then as many calls as fit, unless FUZZ_RUNS bounds them too).
 *
 *   FUZZ_SEED      seed of every batch (default 1)
 *   FUZZ_RUNS      calls per target (default 400, or unbounded with FUZZ_SECONDS)
 *   FUZZ_SECONDS   seconds of fuzzing in all, split evenly across targets
 *   FUZZ_TARGETS   comma-separated parts of target names to run (default all)
 *   FUZZ_PHASES    comma-separated phase names to run (default all)
 *   FUZZ_BATCH     calls between two checks of the invariants (default 100)
 *   FUZZ_RSS_MB    bound on each node's RSS (default 1024)
 */
const env = (name: string) => {
  const value = process.env[name]
  return value === undefined || value.trim() === "" ? undefined : value.trim()
}
const number = (name: string, fallback: number | undefined) => {
  const text = env(name)
  if (text === undefined) return fallback
  const value = Number(text)
  if (!Number.isFinite(value) || value < 0) throw new Error(`${name}: "${text}" is not a number`)
  return value
}
const list = (name: string) => env(name)?.split(",").map((s) => s.trim().toLowerCase()).filter((s) => s !== "")

export const DEFAULT_SEED = 1
export const DEFAULT_RUNS = 400

const seconds = number("FUZZ_SECONDS", undefined)
const targetFilter = list("FUZZ_TARGETS")
const phaseFilter = list("FUZZ_PHASES")

export const targets = FUZZ_TARGETS.filter((t) => targetFilter === undefined || targetFilter.some((f) => t.name.toLowerCase().includes(f)))

export const options: RunOptions = {
  seed: number("FUZZ_SEED", DEFAULT_SEED)!,
  callsPerTarget: number("FUZZ_RUNS", seconds === undefined ? DEFAULT_RUNS : undefined),
  secondsPerTarget: seconds === undefined ? undefined : seconds / Math.max(1, targets.length),
  batchSize: number("FUZZ_BATCH", 100)!,
  concurrency: 6,
  // Above RPC_TIMEOUT (5 s): a handler that waits on a peer call may take that long and still answer.
  deadlineMs: 15_000,
  rssBoundBytes: number("FUZZ_RSS_MB", 1024)! * 2 ** 20,
  maxRestarts: 4,
  phases: PHASES.filter((p) => phaseFilter === undefined || phaseFilter.includes(p.name.toLowerCase()))
}

/** How long one target's test may take: its fuzzing, restarts and start-up, with room. */
export const targetTimeoutMs = () =>
  (options.secondsPerTarget !== undefined ? options.secondsPerTarget * 1000 : 0) +
  (options.callsPerTarget !== undefined && options.secondsPerTarget === undefined ? options.callsPerTarget * 150 : 0) +
  (options.maxRestarts + 1) * 60_000
