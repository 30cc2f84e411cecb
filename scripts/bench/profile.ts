/**
 * CPU profiles of the nodes under `pnpm bench` load: one node (scenario S)
 * and a three-node cluster at QUORUM (scenario C, load spread over the
 * nodes), each node profiled by the inspector over the measured phases
 * (`cpuProfiler.mjs`, preloaded). Writes `bench/profile/`: a
 * flame graph per system (SVG) and README.md with where the time went by
 * part of the stack and the costliest functions.
 *
 *   pnpm bench:profile [--duration 6] [--warmup 2]
 */
import { spawnSync } from "node:child_process"
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { parseArgs } from "node:util"
import { repoRoot } from "../../testkit/nodeProcess.js"
import { byPart, type CpuProfile, durationS, flameSvg, topFunctions } from "./cpuProfile.js"

const { values: flags } = parseArgs({ options: { duration: { type: "string", default: "6" }, warmup: { type: "string", default: "2" } } })
const out = join(repoRoot, "bench", "profile")
mkdirSync(out, { recursive: true })
const work = mkdtempSync(join(tmpdir(), "cache-profile-"))

interface Profiled {
  readonly name: string
  readonly description: string
  readonly profile: CpuProfile
  /** Calls answered during the run, from the bench's results. */
  readonly calls: number
}

/** Runs one bench scenario with every node profiled over the measured phases. */
const profileScenario = (scenario: "S" | "C", description: string): Profiled => {
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
    "--out",
    results,
    "--node-env",
    `RATE_LIMIT=0,CPU_PROFILE_DIR=${dir},NODE_OPTIONS=--import=${join(repoRoot, "scripts/bench/cpuProfiler.mjs")}`
  ], { cwd: repoRoot, stdio: ["ignore", "inherit", "inherit"], env: { ...process.env, CPU_PROFILE_DIR: dir } })
  if (run.status !== 0) throw new Error(`bench ${scenario} failed (${run.status})`)
  // One profile per node: for C, the busiest of the three.
  const profiles = readdirSync(dir).filter((f) => f.endsWith(".cpuprofile")).map((f) => JSON.parse(readFileSync(join(dir, f), "utf8")) as CpuProfile)
  if (profiles.length === 0) throw new Error(`no profile written for ${scenario}`)
  const busy = (p: CpuProfile) => 1 - (byPart(p).find((part) => part.part === "idle")?.share ?? 0)
  const profile = profiles.sort((a, b) => busy(b) - busy(a))[0]!
  // C runs the C-ONE phases after its own on the same nodes: both are in the profile.
  const names = readdirSync(join(results, "results")).filter((f) => f === `${scenario}.json` || f === `${scenario}-ONE.json`)
  const calls = names.map((f) => JSON.parse(readFileSync(join(results, "results", f), "utf8"))).reduce(
    (sum: number, result) => sum + [result.get, result.set, result.mixed].reduce((n: number, phase) => n + (phase?.requests ?? phase?.ops ?? 0), 0),
    0
  )
  return { name: scenario, description, profile, calls }
}

const runs = [profileScenario("S", "one node"), profileScenario("C", "the busiest of three nodes, QUORUM then ONE (the C and C-ONE phases), load spread over the three")]
const percent = (share: number) => `${(share * 100).toFixed(1)}%`
const lines = [
  "# Where a node's CPU goes",
  "",
  `Made by \`pnpm bench:profile --duration ${flags.duration} --warmup ${flags.warmup}\` on ${new Date().toISOString().slice(0, 10)}: the bench's`,
  "Get, Set and mixed phases (warm-ups included) against each system, each node profiled over them (`RATE_LIMIT=0`). Shares",
  "are of all samples, idle included; a part is where a sample's own frame was (self time).",
  ""
]
for (const { name, description, profile, calls } of runs) {
  const seconds = durationS(profile)
  const parts = byPart(profile)
  const busy = 1 - (parts.find((p) => p.part === "idle")?.share ?? 0)
  writeFileSync(join(out, `${name}.svg`), flameSvg(profile, `${name}: ${description} (busy samples; hover for names)`))
  lines.push(`## ${name}: ${description}`, "")
  lines.push(`![flame graph](${name}.svg)`, "")
  lines.push(
    `${seconds.toFixed(0)} s profiled, busy ${percent(busy)} of it; ${calls} client calls measured across the system (warm-ups not counted).`,
    ""
  )
  lines.push("| part of the stack | self time |", "|---|---|")
  for (const part of parts) lines.push(`| ${part.part} | ${percent(part.share)} |`)
  lines.push("", "| function | part | self time |", "|---|---|---|")
  for (const row of topFunctions(profile, 25)) lines.push(`| \`${row.name.replace(/\|/g, "\\|")}\` | ${row.part} | ${percent(row.share)} |`)
  lines.push("")
}
writeFileSync(join(out, "README.md"), lines.join("\n"))
rmSync(work, { recursive: true, force: true })
process.stderr.write(`wrote ${out}/README.md, S.svg, C.svg\n`)
