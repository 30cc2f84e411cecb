import { execFile } from "node:child_process"
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { ResponseError } from "@effect/platform/HttpClientError"
import { NodeContext } from "@effect/platform-node"
import { Effect } from "effect"
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest"
import { cli } from "../../src/cli/commands.js"
import { adminCall, adminGet, bearer, parseMetrics } from "../../testkit/admin.js"
import { type NodeProcess, repoRoot, spawnNode, startNode } from "../../testkit/nodeProcess.js"

const HOST = "127.0.0.141"
const TOKEN = "auth-int-test-token-0123456789abcdef"

/** The HTTP status that refused an admin call (found in the error the client gives back), or "answered". */
const refusal = async <A, E>(admin: string, call: Parameters<typeof adminCall<A, E>>[1], token?: string): Promise<number | "answered"> => {
  const result = await adminCall(admin, (c) => Effect.either(call(c)), token)
  if (result._tag === "Right") return "answered"
  let cause: unknown = result.left
  while (!(cause instanceof ResponseError) && cause instanceof Error && cause.cause !== undefined) cause = cause.cause
  return cause instanceof ResponseError ? cause.response.status : Number.NaN
}

/** Whether the node's process is still running now. */
const alive = (node: NodeProcess) => node.child.exitCode === null && node.child.signalCode === null

/** The command `pnpm cli` runs, from package.json. */
const cliArgs = (): Array<string> => {
  const pkg = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as { scripts: { cli: string } }
  return pkg.scripts.cli.split(/\s+/).slice(1)
}

/** Runs `pnpm cli` in a process of its own with only these variables (and PATH) set: exit code, stdout, stderr. */
const cliProcess = (args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(process.execPath, [...cliArgs(), ...args], { cwd: repoRoot, env: { PATH: process.env["PATH"] ?? "", ...env } }, (error, stdout, stderr) =>
      resolve({ code: error === null ? 0 : typeof error.code === "number" ? error.code : -1, stdout, stderr }))
  })

/** Runs the CLI in this process (loading it again per run costs seconds): exit code, stdout, stderr. */
const cliHere = async (args: ReadonlyArray<string>, env: Record<string, string> = {}) => {
  const out: Array<string> = []
  const err: Array<string> = []
  const log = vi.spyOn(console, "log").mockImplementation((...line: Array<unknown>) => void out.push(line.join(" ")))
  const error = vi.spyOn(console, "error").mockImplementation((...line: Array<unknown>) => void err.push(line.join(" ")))
  for (const name of ["ADMIN_TOKEN", "ADMIN_TOKEN_FILE", "ADMIN_ADDR"]) vi.stubEnv(name, env[name])
  try {
    await Effect.runPromise(cli(["node", "cache-cli", ...args]).pipe(Effect.provide(NodeContext.layer)))
    return { code: process.exitCode ?? 0, stdout: out.join("\n"), stderr: err.join("\n") }
  } finally {
    process.exitCode = undefined
    log.mockRestore()
    error.mockRestore()
    vi.unstubAllEnvs()
  }
}

describe("a node with ADMIN_TOKEN", () => {
  let node: NodeProcess
  let admin: string
  beforeAll(async () => {
    node = await startNode(HOST, { ADMIN_TOKEN: TOKEN })
    admin = await node.adminAddress()
  })
  afterAll(async () => {
    await node.stop("SIGKILL")
  })

  it("asks every procedure and /metrics for it, never /healthz or /readyz; a wrong one is refused too", async () => {
    for (const path of ["/healthz", "/readyz"]) expect((await adminGet(admin, path)).status, path).toBe(200)

    expect(await adminGet(admin, "/metrics")).toMatchObject({ status: 401, body: "admin token missing: send Authorization: Bearer <ADMIN_TOKEN>\n" })
    expect(await adminGet(admin, "/metrics", { authorization: `Basic ${Buffer.from(`x:${TOKEN}`).toString("base64")}` }))
      .toMatchObject({ status: 401 })
    expect(await adminGet(admin, "/metrics", bearer(`${TOKEN}x`))).toMatchObject({ status: 401, body: "admin token wrong\n" })
    const metrics = await adminGet(admin, "/metrics", bearer(TOKEN))
    expect(metrics.status).toBe(200)
    expect(parseMetrics(metrics.body).value("cache_ready")).toBe(1)

    expect(await refusal(admin, (c) => c.Status())).toBe(401)
    expect(await refusal(admin, (c) => c.Stats(), `${TOKEN.slice(0, -1)}X`)).toBe(401)
    expect(await refusal(admin, (c) => c.Leave())).toBe(401)
    expect(await refusal(admin, (c) => c.Leave(), "wrong-token-of-enough-length")).toBe(401)
    expect(alive(node)).toBe(true)
    expect(await adminCall(admin, (c) => c.Status(), TOKEN)).toMatchObject({ address: node.address, ready: true })
    // With the token a forced removal reaches the leader's checks (this one names no member).
    expect(await adminCall(admin, (c) => Effect.flip(c.Remove({ member: "127.0.0.142:1", force: true })), TOKEN))
      .toMatchObject({ _tag: "AdminError", message: "127.0.0.142:1 is not a member of the ring" })
  })

  it("is sent by pnpm cli from ADMIN_TOKEN, --token-file or ADMIN_TOKEN_FILE; without it the CLI says what to set", async () => {
    const stats = ["--admin", admin, "stats"]
    // As people run it: `pnpm cli` in a process of its own.
    const [fromEnv, none] = await Promise.all([cliProcess(stats, { ADMIN_TOKEN: TOKEN }), cliProcess(stats)])
    expect(fromEnv).toMatchObject({ code: 0, stderr: "" })
    expect(fromEnv.stdout).toMatch(/^shards:\s+1$/m)
    expect(none).toEqual({
      code: 1,
      stdout: "",
      stderr: `cache-cli: the admin API at ${admin} asks for its token (401 admin token missing: send Authorization: Bearer <ADMIN_TOKEN>): ` +
        "set ADMIN_TOKEN or pass --token-file PATH\n"
    })

    const file = join(mkdtempSync(join(tmpdir(), "cli-token-")), "token")
    writeFileSync(file, `${TOKEN}\n`)
    for (const run of [await cliHere(["--token-file", file, ...stats]), await cliHere(stats, { ADMIN_TOKEN_FILE: file })]) {
      expect(run).toMatchObject({ code: 0, stderr: "" })
      expect(run.stdout).toMatch(/^shards:\s+1$/m)
    }
    expect(await cliHere(stats, { ADMIN_TOKEN: `${TOKEN}-not` })).toEqual({
      code: 1,
      stdout: "",
      stderr: `cache-cli: the admin API at ${admin} refused the token (401 admin token wrong): use the node's ADMIN_TOKEN`
    })
    const missing = await cliHere(["--token-file", join(tmpdir(), "no-such-token-file"), ...stats])
    expect(missing.code).toBe(1)
    expect(missing.stderr).toMatch(/^cache-cli: --token-file: cannot read \S+no-such-token-file: ENOENT$/)
  })

  it("leaves on Leave with the token, and never logged the token", async () => {
    const left = await adminCall(admin, (c) => c.Leave(), TOKEN)
    expect(left.address).toBe(node.address)
    expect(await node.exited).toEqual({ code: 0, signal: null })
    const output = JSON.stringify(node.logs()) + node.stderr()
    expect(output).not.toContain(TOKEN)
    expect(output).not.toContain(TOKEN.slice(0, 16))
  })
})

describe("a node without ADMIN_TOKEN", () => {
  const running: Array<NodeProcess> = []
  afterEach(async () => {
    await Promise.all(running.splice(0).map((n) => n.stop("SIGKILL")))
  })

  it("refuses Leave and forced removal on loopback, and keeps running", async () => {
    const node = await startNode(HOST)
    running.push(node)
    const admin = await node.adminAddress()
    // The rest of the API stays open on loopback without a token, as before.
    expect(await adminCall(admin, (c) => c.Status())).toMatchObject({ ready: true })
    expect((await adminGet(admin, "/metrics")).status).toBe(200)

    const leave = await adminCall(admin, (c) => Effect.flip(c.Leave()))
    expect(leave).toMatchObject({ _tag: "AdminError" })
    expect((leave as { message: string }).message).toMatch(/^leave needs the admin token, and this node has none: set ADMIN_TOKEN/)
    const forced = await adminCall(admin, (c) => Effect.flip(c.Remove({ member: "127.0.0.142:1", force: true })))
    expect((forced as { message: string }).message).toMatch(/^forced removal needs the admin token, .*set ADMIN_TOKEN/)
    // Even a token sent to a node without one does not unlock them.
    const guessed = await adminCall(admin, (c) => Effect.flip(c.Leave()), TOKEN)
    expect((guessed as { message: string }).message).toMatch(/set ADMIN_TOKEN/)
    // A removal without force is no more guarded than before.
    expect(await adminCall(admin, (c) => Effect.flip(c.Remove({ member: "127.0.0.142:1", force: false }))))
      .toMatchObject({ message: "127.0.0.142:1 is not a member of the ring" })

    await node.waitForLog((line) => line["msg"] === "leave refused: no admin token configured")
    expect(await adminCall(admin, (c) => c.Status())).toMatchObject({ ready: true, status: "member" })
    expect(alive(node)).toBe(true)
    expect(node.logs().map((l) => l["msg"])).not.toContain("leave requested through the admin API")
  })

  it("does not start with its admin server beyond loopback, naming ADMIN_TOKEN", async () => {
    const node = spawnNode({ ADDR: `${HOST}:1`, ADMIN_ADDR: "0.0.0.0:0" })
    running.push(node)
    expect((await node.exited).code).toBe(1)
    const lines = node.stderr().trim().split("\n")
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatch(/^invalid configuration: ADMIN_TOKEN: the admin server binds 0\.0\.0\.0:0, beyond loopback: set ADMIN_TOKEN/)
  })
})
