/**
 * Reading the Dockerfile (instructions, stages, COPYs) and the checks on it
 * and on .dockerignore. Each check takes the file's text, so the tests can
 * also feed it a damaged copy.
 */
import { existsSync } from "node:fs"
import { join, posix } from "node:path"
import { expect } from "vitest"
import { list, read, repoRoot, text } from "./files.js"
import { hostPort } from "./nodeConfig.js"

interface Instruction {
  readonly keyword: string
  readonly args: string
}

interface Stage {
  readonly name: string | undefined
  readonly image: string
  readonly instructions: ReadonlyArray<Instruction>
}

/** Instructions with continuation lines joined and comment lines dropped. */
const dockerInstructions = (dockerfile: string): ReadonlyArray<Instruction> => {
  const instructions: Array<Instruction> = []
  let pending = ""
  for (const line of dockerfile.split("\n")) {
    if (/^\s*#/.test(line)) continue
    const continued = /\\\s*$/.test(line)
    pending += continued ? line.replace(/\\\s*$/, " ") : line
    if (continued) continue
    const trimmed = pending.trim()
    pending = ""
    if (trimmed === "") continue
    const space = trimmed.search(/\s/)
    instructions.push({
      keyword: (space < 0 ? trimmed : trimmed.slice(0, space)).toUpperCase(),
      args: space < 0 ? "" : trimmed.slice(space).trim()
    })
  }
  return instructions
}

const dockerStages = (dockerfile: string): ReadonlyArray<Stage> => {
  const instructions = dockerInstructions(dockerfile)
  const globalArgs: Record<string, string> = {}
  const stages: Array<{ name: string | undefined; image: string; instructions: Array<Instruction> }> = []
  for (const instruction of instructions) {
    if (instruction.keyword === "FROM") {
      const [image = "", as, name] = instruction.args.split(/\s+/)
      stages.push({
        name: as?.toUpperCase() === "AS" ? name : undefined,
        image: image.replace(/\$\{(\w+)\}|\$(\w+)/g, (whole, a?: string, b?: string) => globalArgs[a ?? b ?? ""] ?? whole),
        instructions: []
      })
    } else if (stages.length === 0) {
      if (instruction.keyword === "ARG") {
        const [key = "", value = ""] = instruction.args.split("=")
        globalArgs[key.trim()] = value.trim()
      }
    } else {
      stages[stages.length - 1]?.instructions.push(instruction)
    }
  }
  return stages
}

const jsonArray = (raw: string, what: string): ReadonlyArray<string> => {
  let value: unknown
  try {
    value = JSON.parse(raw)
  } catch {
    return expect.fail(`${what} is exec form (a JSON array), not "${raw}"`)
  }
  return list(value, what).map((v) => text(v, what))
}

/** COPY sources and destination, with the --from stage if any. */
const copies = (stage: Stage) =>
  stage.instructions.filter((i) => i.keyword === "COPY").map((i) => {
    const words = i.args.split(/\s+/)
    const from = words.find((w) => w.startsWith("--from="))?.slice("--from=".length)
    const paths = words.filter((w) => !w.startsWith("--"))
    return { from, sources: paths.slice(0, -1), destination: paths[paths.length - 1] ?? "" }
  })

const workdirOf = (stage: Stage): string =>
  stage.instructions.filter((i) => i.keyword === "WORKDIR").reduce((dir, i) => posix.resolve(dir, i.args), "/")

const envOfStage = (stage: Stage): Record<string, string> =>
  Object.fromEntries(stage.instructions.filter((i) => i.keyword === "ENV").flatMap((i) =>
    i.args.split(/\s+/).filter((w) => w.includes("=")).map((w) => [w.slice(0, w.indexOf("=")), w.slice(w.indexOf("=") + 1)])
  ))

const stageRunning = (stages: ReadonlyArray<Stage>, command: RegExp): Stage | undefined =>
  stages.find((s) => s.instructions.some((i) => i.keyword === "RUN" && command.test(i.args)))

export const checkDockerStages = (dockerfile: string) => {
  const stages = dockerStages(dockerfile)
  expect(stages.length, "build, production-deps and runtime stages").toBeGreaterThanOrEqual(3)
  const build = stageRunning(stages, /\bpnpm build\b/)
  const deps = stageRunning(stages, /\bpnpm install\b(?=.*--frozen-lockfile)(?=.*--prod\b)/)
  expect(build, "a stage runs pnpm build").toBeDefined()
  expect(deps, "a stage installs production dependencies from the lockfile").toBeDefined()
  for (const stage of stages) {
    const install = stage.instructions.findIndex((i) => i.keyword === "RUN" && /\bpnpm install\b/.test(i.args))
    if (install < 0) continue
    expect(stage.instructions[install]?.args, `${stage.name}: the install keeps to the lockfile`).toMatch(/--frozen-lockfile/)
    // allowBuilds lives in pnpm-workspace.yaml: without it the install scripts esbuild needs do not run.
    const copied = copies({ ...stage, instructions: stage.instructions.slice(0, install) }).flatMap((c) => c.sources)
    for (const file of ["package.json", "pnpm-lock.yaml", "pnpm-workspace.yaml"]) {
      expect(copied, `${stage.name}: ${file} is copied before pnpm install`).toContain(file)
    }
  }
  const runtime = stages[stages.length - 1]
  expect(runtime?.image, "the runtime image").toBe("node:20-bookworm-slim")
  const runtimeCopies = copies(runtime ?? stages[0] ?? { name: undefined, image: "", instructions: [] })
  const named = stages.map((s) => s.name)
  for (const c of runtimeCopies) if (c.from !== undefined) expect(named, `COPY --from=${c.from} names a stage`).toContain(c.from)
  expect(runtimeCopies.some((c) => c.from === deps?.name && c.sources.some((s) => s.endsWith("node_modules"))),
    "node_modules comes from the production-deps stage").toBe(true)
  expect(runtimeCopies.some((c) => c.from === build?.name && c.sources.some((s) => s.endsWith("dist"))),
    "dist comes from the build stage").toBe(true)
  expect(runtime?.instructions.some((i) => i.keyword === "RUN" && /pnpm install/.test(i.args)), "no install in the runtime")
    .toBe(false)
}

export const checkDockerRuntime = (dockerfile: string) => {
  const stages = dockerStages(dockerfile)
  const runtime = stages[stages.length - 1] ?? { name: undefined, image: "", instructions: [] }
  const users = runtime.instructions.filter((i) => i.keyword === "USER")
  expect(users.length, "the runtime stage sets USER").toBeGreaterThan(0)
  const user = (users[users.length - 1]?.args ?? "").split(":")[0]
  expect(["root", "0", ""], "USER is not root").not.toContain(user)
  const entrypoints = runtime.instructions.filter((i) => i.keyword === "ENTRYPOINT")
  expect(entrypoints.length, "one ENTRYPOINT").toBe(1)
  const entrypoint = jsonArray(entrypoints[0]?.args ?? "", "ENTRYPOINT")
  expect(entrypoint[0], "ENTRYPOINT runs node directly, so node gets SIGTERM").toBe("node")
  const script = entrypoint[1] ?? ""
  expect(script, "ENTRYPOINT runs dist/main.js").toMatch(/(^|\/)dist\/main\.js$/)
  const workdir = workdirOf(runtime)
  const distAt = copies(runtime).filter((c) => c.sources.some((s) => s.endsWith("dist")))
    .map((c) => posix.resolve(workdir, c.destination))
  expect(distAt.some((dir) => posix.resolve(workdir, script).startsWith(`${dir}/`)), "dist/main.js is where dist is copied")
    .toBe(true)
  // package.json says "type": "module": without it node would load dist/*.js as CommonJS.
  expect(copies(runtime).some((c) => c.from === undefined && c.sources.includes("package.json") &&
    posix.resolve(workdir, c.destination.endsWith("/") ? c.destination : posix.dirname(c.destination)) === workdir),
    "package.json is beside dist").toBe(true)
  const exposed = runtime.instructions.filter((i) => i.keyword === "EXPOSE").flatMap((i) => i.args.split(/\s+/)).map((p) =>
    Number(p.replace(/\/tcp$/, ""))
  )
  const env = envOfStage(runtime)
  const listen = hostPort(env.LISTEN_ADDR ?? env.ADDR ?? "localhost:8080", "image LISTEN_ADDR")
  const admin = env.ADMIN_ADDR === undefined ? listen.port + 1000 : hostPort(env.ADMIN_ADDR, "image ADMIN_ADDR").port
  expect(exposed.sort(), "EXPOSE lists the gRPC and admin ports").toEqual([listen.port, admin].sort())
  expect(exposed.sort(), "EXPOSE 8080 9080").toEqual([8080, 9080])
  expect(["0.0.0.0", "::"], "the image binds every interface by default").toContain(listen.host)
}

export const checkDockerHealthcheck = (dockerfile: string) => {
  const stages = dockerStages(dockerfile)
  const runtime = stages[stages.length - 1] ?? { name: undefined, image: "", instructions: [] }
  const checks = runtime.instructions.filter((i) => i.keyword === "HEALTHCHECK")
  expect(checks.length, "one HEALTHCHECK").toBe(1)
  const args = checks[0]?.args ?? ""
  const cmd = args.indexOf("CMD")
  expect(cmd, "HEALTHCHECK CMD").toBeGreaterThanOrEqual(0)
  const command = jsonArray(args.slice(cmd + 3).trim(), "HEALTHCHECK CMD")
  expect(command[0], "the health check runs node (the slim image has no curl)").toBe("node")
  const scriptPath = posix.resolve(workdirOf(runtime), command[1] ?? "")
  const copied = copies(runtime).find((c) =>
    c.from === undefined && posix.resolve(workdirOf(runtime), c.destination) === scriptPath
  )
  expect(copied, `the health check script ${scriptPath} is copied into the image`).toBeDefined()
  const source = copied?.sources[0] ?? ""
  expect(existsSync(join(repoRoot, source)), `${source} exists`).toBe(true)
  expect(read(source), `${source} asks /readyz`).toContain("/readyz")
  expect(args, "the start period leaves a node time to pull its ranges").toMatch(/--start-period=\d+[sm]/)
}

export const checkDockerignore = (dockerfile: string, dockerignore: string) => {
  const patterns = dockerignore.split("\n").map((l) => l.trim()).filter((l) => l !== "" && !l.startsWith("#"))
  for (const required of ["node_modules", "dist", ".reports", ".git"]) {
    expect(patterns, `.dockerignore excludes ${required}`).toContain(required)
  }
  const ignored = (path: string) => patterns.some((p) => {
    const pattern = new RegExp(`^${p.replace(/^\//, "").replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, "[^/]*")}(/|$)`)
    return !p.startsWith("!") && pattern.test(path)
  })
  for (const stage of dockerStages(dockerfile)) {
    for (const c of copies(stage)) {
      if (c.from !== undefined) continue
      for (const source of c.sources) {
        expect(existsSync(join(repoRoot, source)), `COPY ${source}: it exists`).toBe(true)
        expect(ignored(source), `COPY ${source}: .dockerignore keeps it in the build context`).toBe(false)
      }
    }
  }
}

/** An admin token baked into the image would be one token for every deployment, readable by anyone with the image. */
export const checkDockerAdminToken = (dockerfile: string) => {
  for (const stage of dockerStages(dockerfile)) {
    for (const i of stage.instructions.filter((i) => i.keyword === "ENV" || i.keyword === "ARG")) {
      expect(i.args, `${stage.name ?? "a stage"}: ${i.keyword} sets no admin token; it comes from the run`).not.toMatch(/\bADMIN_TOKEN(_FILE)?\b/)
    }
  }
}
