/**
 * CPU profiles of the nodes under `pnpm bench` load, one per phase: one
 * node (scenario S) and a three-node cluster at QUORUM (scenario C, load
 * spread over the nodes), every node profiled by the inspector
 * (`cpuProfiler.mjs`, preloaded; the bench starts and stops it around each
 * phase). Writes `bench/profile/`: flame graphs (SVG) of the Get and Set
 * phases, and README.md with the CPU each client call costs, by part of
 * the stack, and the costliest functions.
 *
 *   pnpm bench:profile [--duration 6] [--warmup 2] [--keep DIR]
 *
 * `--keep DIR` leaves the raw .cpuprofile files there (for Chrome DevTools or speedscope).
 */
import { spawnSync } from "node:child_process"
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { parseArgs } from "node:util"
import { repoRoot } from "../../testkit/nodeProcess.js"
import { byPart, type CpuProfile, durationS, flameSvg, topFunctions } from "./cpuProfile.js"

const { values: flags } = parseArgs({ options: { duration: { type: "string", default: "6" }, warmup: { type: "string", default: "2" }, keep: { type: "string" } } })
const out = join(repoRoot, "bench", "profile")
mkdirSync(out, { recursive: true })
const work = mkdtempSync(join(tmpdir(), "cache-profile-"))

/** One measured phase: every node's profile of it, the calls per second the system answered, and the cores its nodes used. */
interface Phase {
  readonly name: string
  readonly profiles: ReadonlyArray<CpuProfile>
  readonly rps: number
  readonly cores: number
}

/** The phases the bench runs for a scenario, in order (the order the nodes' profiles are numbered in). */
const PHASES: Record<"S" | "C", ReadonlyArray<readonly [string, string, "get" | "set" | "mixed"]>> = {
  S: [["S Get", "S", "get"], ["S Set", "S", "set"], ["S mixed", "S", "mixed"]],
  C: [["C Get", "C", "get"], ["C Set", "C", "set"], ["C mixed", "C", "mixed"], ["C-ONE Get", "C-ONE", "get"], ["C-ONE Set", "C-ONE", "set"]]
}

const profileScenario = (scenario: "S" | "C"): ReadonlyArray<Phase> => {
  const dir = join(work, scenario)
  mkdirSync(dir)
  const results = join(work, `${scenario}-results`)
  const run = spawnSync(process.execPath, [
    "--import",
    "tsx",
    join(repoRoot, "scripts/bench/main.ts"),
    "--scenarios",
    scenario,
    "--duration",
    flags.duration,
    "--warmup",
    flags.warmup,
    // One profile per phase: profiles are numbered by phase.
    "--rounds",
    "1",
    "--out",
    results,
    "--node-env",
    `RATE_LIMIT=0,CPU_PROFILE_DIR=${dir},NODE_OPTIONS=--import=${join(repoRoot, "scripts/bench/cpuProfiler.mjs")}`
  ], { cwd: repoRoot, stdio: ["ignore", "inherit", "inherit"], env: { ...process.env, CPU_PROFILE_DIR: dir } })
  if (run.status !== 0) throw new Error(`bench ${scenario} failed (${run.status})`)
  const files = readdirSync(dir).filter((f) => f.endsWith(".cpuprofile"))
  return PHASES[scenario].map(([name, resultName, field], index) => {
    const profiles = files.filter((f) => f.endsWith(`-${index}.cpuprofile`)).map((f) => JSON.parse(readFileSync(join(dir, f), "utf8")) as CpuProfile)
    if (profiles.length === 0) throw new Error(`no profile of ${name}`)
    const measured = JSON.parse(readFileSync(join(results, "results", `${resultName}.json`), "utf8"))[field]
    const cores = (measured.cpu as ReadonlyArray<{ label: string; cores: number }>).filter((p) => p.label.startsWith("node ")).reduce((sum, p) => sum + p.cores, 0)
    return { name, profiles, rps: measured.rps as number, cores }
  })
}

const phases = [...profileScenario("S"), ...profileScenario("C")]
const idleShare = (profile: CpuProfile) => byPart(profile).find((p) => p.part === "idle")?.share ?? 0
const busyS = (profile: CpuProfile) => durationS(profile) * (1 - idleShare(profile))

/**
 * µs of CPU per client call by part of the stack, all nodes together: the
 * CPU the bench saw the nodes use (from /proc) per call, split as their busy
 * samples are. Samples alone would overcount on a busy machine: a thread
 * waiting for a core is sampled as busy.
 */
const perCall = (phase: Phase): Map<string, number> => {
  const samples = new Map<string, number>()
  for (const profile of phase.profiles) {
    for (const part of byPart(profile)) if (part.part !== "idle") samples.set(part.part, (samples.get(part.part) ?? 0) + part.samples)
  }
  const busy = [...samples.values()].reduce((a, b) => a + b, 0)
  const usPerCall = (phase.cores / phase.rps) * 1e6
  return new Map([...samples].map(([part, count]) => [part, (count / busy) * usPerCall]))
}

const shown = phases.filter((p) => ["S Get", "S Set", "C Get", "C Set"].includes(p.name))
const costs = shown.map(perCall)
const partNames = [...new Set(costs.flatMap((c) => [...c.keys()]))].sort((a, b) => (costs[0]!.get(b) ?? 0) - (costs[0]!.get(a) ?? 0))
const us = (n: number | undefined) => (n === undefined ? "-" : n.toFixed(1))
const total = (c: Map<string, number>) => [...c.values()].reduce((a, b) => a + b, 0)

const lines = [
  "# Where a node's CPU goes",
  "",
  `Made by \`pnpm bench:profile --duration ${flags.duration} --warmup ${flags.warmup}\` on ${new Date().toISOString().slice(0, 10)}: the bench's`,
  "phases against one node (S) and three nodes at QUORUM with the load spread (C), every node profiled over each",
  "phase (warm-up included) with `RATE_LIMIT=0`. A sample counts for the part of the stack its own frame is in",
  "(self time). The profiler (a sample a millisecond) costs CPU too, so calls/s here run below an unprofiled",
  "`pnpm bench`'s. This machine is shared and noisy: compare parts within one run.",
  "",
  "## CPU per client call (µs, all nodes of the system together; the profile splits what /proc counted)",
  "",
  `| part of the stack | ${shown.map((p) => `${p.name} (${p.rps}/s)`).join(" | ")} |`,
  `|---|${shown.map(() => "---|").join("")}`,
  ...partNames.map((part) => `| ${part} | ${costs.map((c) => us(c.get(part))).join(" | ")} |`),
  `| **total** | ${costs.map((c) => `**${us(total(c))}**`).join(" | ")} |`,
  ""
]
for (const phase of shown) {
  // The busiest node's profile stands for the phase.
  const profile = [...phase.profiles].sort((a, b) => busyS(b) - busyS(a))[0]!
  const file = `${phase.name.replace(/\s+/g, "-")}.svg`
  writeFileSync(join(out, file), flameSvg(profile, `${phase.name}: ${phase.profiles.length > 1 ? "the busiest node" : "the node"} (busy samples; hover for names)`))
  lines.push(`## ${phase.name}`, "", `![flame graph of ${phase.name}](${file})`, "")
  lines.push(`${durationS(profile).toFixed(0)} s profiled, busy ${(100 * (1 - idleShare(profile))).toFixed(1)}%.`, "")
  lines.push("| function | part | self time (of busy) |", "|---|---|---|")
  const busy = 1 - idleShare(profile)
  for (const row of topFunctions(profile, 16).filter((r) => r.part !== "idle")) {
    lines.push(`| \`${row.name.replace(/\|/g, "\\|")}\` | ${row.part} | ${(row.share / busy * 100).toFixed(1)}% |`)
  }
  lines.push("")
}
for (const old of readdirSync(out).filter((f) => f.endsWith(".svg"))) if (!shown.some((p) => `${p.name.replace(/\s+/g, "-")}.svg` === old)) rmSync(join(out, old))
writeFileSync(join(out, "README.md"), lines.join("\n"))
if (flags.keep !== undefined) cpSync(work, flags.keep, { recursive: true })
rmSync(work, { recursive: true, force: true })
process.stderr.write(`wrote ${out}/README.md and the flame graphs\n`)
