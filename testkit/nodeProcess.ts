import { type ChildProcess, spawn } from "node:child_process"
import { readFileSync } from "node:fs"
import { createServer } from "node:net"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { formatHostPort, parseHostPort } from "../src/config/parse.js"

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), "..")

/** The command `pnpm start` runs, so that tests start nodes exactly as users do. */
const startCommand = (): { command: string; args: Array<string> } => {
  const pkg = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")) as { scripts: { start: string } }
  const [command, ...args] = pkg.scripts.start.split(/\s+/)
  if (command !== "node") throw new Error(`expected "start" to run node, got ${pkg.scripts.start}`)
  return { command: process.execPath, args }
}

/** A port nobody listens on right now at `host`. */
export const freePort = (host: string): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer()
    server.once("error", reject)
    server.listen(0, host, () => {
      const address = server.address()
      server.close(() => typeof address === "object" && address !== null ? resolve(address.port) : reject(new Error("no port")))
    })
  })

/** One free address on each loopback host 127.0.0.<host> (each test file uses hosts of its own). */
export const addressesOn = (hosts: ReadonlyArray<number>): Promise<Array<string>> =>
  Promise.all(hosts.map(async (h) => `127.0.0.${h}:${await freePort(`127.0.0.${h}`)}`))

/** How long a test waits for a node's log line before failing with what the node did say. */
export const WAIT_FOR_LOG_MS = 40_000

export interface Exit {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
}

/** A node process started by the test, with its output captured. */
export interface NodeProcess {
  readonly address: string
  /** Where its admin server listens, once it has said so. */
  readonly adminAddress: () => Promise<string>
  readonly child: ChildProcess
  /** Parsed JSON log lines so far. */
  readonly logs: () => ReadonlyArray<Record<string, unknown>>
  readonly stderr: () => string
  readonly exited: Promise<Exit>
  /** Resolves with the first log line that matches; rejects when the process exits first or after `timeoutMs`. */
  readonly waitForLog: (predicate: (line: Record<string, unknown>) => boolean, timeoutMs?: number) => Promise<Record<string, unknown>>
  /** Sends a signal and waits for the process to exit. */
  readonly stop: (signal?: NodeJS.Signals) => Promise<Exit>
}

/** Spawns a node with the given environment (on top of a clean one), optionally inside a network namespace. */
export const spawnNode = (env: Record<string, string>, options: { readonly netns?: string } = {}): NodeProcess => {
  const start = startCommand()
  // `ip netns exec` execs the command, so the child's pid is the node's own (signals reach it directly).
  const [command, args] = options.netns === undefined
    ? [start.command, start.args]
    : ["ip", ["netns", "exec", options.netns, start.command, ...start.args]]
  // Admin servers on any free port (logged), so that nodes of parallel tests never collide on ADDR's port + 1000.
  const host = parseHostPort(env["ADDR"] ?? "localhost:8080")
  const adminAddr = formatHostPort({ host: host.ok ? host.value.host : "localhost", port: 0 })
  const child = spawn(command, args, {
    cwd: repoRoot,
    env: { PATH: process.env["PATH"] ?? "", LOG_FORMAT: "json", ADMIN_ADDR: adminAddr, ...env },
    stdio: ["ignore", "pipe", "pipe"]
  })
  const lines: Array<Record<string, unknown>> = []
  const waiters = new Set<() => void>()
  let stdoutRest = ""
  let stderrText = ""
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
    const parts = (stdoutRest + chunk).split("\n")
    stdoutRest = parts.pop() ?? ""
    for (const part of parts) {
      try {
        lines.push(JSON.parse(part) as Record<string, unknown>)
      } catch {
        lines.push({ msg: part, unparsed: true })
      }
    }
    for (const wake of waiters) wake()
  })
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => {
    stderrText += chunk
  })
  const exited = new Promise<Exit>((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })))
  let hasExited = false
  void exited.then(() => {
    hasExited = true
    for (const wake of waiters) wake()
  })

  const waitForLog = (predicate: (line: Record<string, unknown>) => boolean, timeoutMs = WAIT_FOR_LOG_MS) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      // Fail with the node's recent log rather than hang until the test times out.
      const timer = setTimeout(() => {
        waiters.delete(check)
        const recent = lines.slice(-12).map((l) => JSON.stringify(l)).join("\n")
        reject(new Error(`${env["ADDR"]}: expected log line not seen within ${timeoutMs} ms; last lines:\n${recent}`))
      }, timeoutMs)
      const check = () => {
        const found = lines.find(predicate)
        if (found !== undefined) {
          waiters.delete(check)
          clearTimeout(timer)
          resolve(found)
        } else if (hasExited) {
          waiters.delete(check)
          clearTimeout(timer)
          reject(new Error(`node exited before the expected log line; stderr: ${stderrText}`))
        }
      }
      waiters.add(check)
      check()
    })

  return {
    address: env["ADDR"] ?? "localhost:8080",
    adminAddress: () => waitForLog((line) => line["msg"] === "admin listening").then((line) => String(line["address"])),
    child,
    logs: () => lines,
    stderr: () => stderrText,
    exited,
    waitForLog,
    stop: (signal = "SIGTERM") => {
      if (!hasExited) child.kill(signal)
      return exited
    }
  }
}

/**
 * Matches the log line of a node that installed a stable agreed ring of
 * `size` members: every member of it has pulled what it gained (a movement
 * ends with a stable configuration only then).
 */
export const ringOf = (size: number) => (line: Record<string, unknown>): boolean =>
  line["msg"] === "ring changed" && line["phase"] === "stable" && String(line["members"]).split(",").length === size

/** Matches the log line of a node that installed a stable agreed ring with `address` on it. */
export const stableRingWith = (address: string) => (line: Record<string, unknown>): boolean =>
  line["msg"] === "ring changed" && line["phase"] === "stable" && String(line["members"]).split(",").includes(address)

/** Waits until every node of a cluster has installed a stable agreed ring of `size` members. */
export const clusterReady = (nodes: ReadonlyArray<NodeProcess>, size: number) =>
  Promise.all(nodes.map((node) => node.waitForLog(ringOf(size))))

/**
 * Starts a node on a free port of `host` and waits until it logs "ready".
 * The port is free when picked but may be taken before the node binds it
 * (its own admin listener on port 0, or any client's outgoing connection on
 * the same loopback host): then it starts again on another free port.
 */
export const startNode = async (host: string, env: Record<string, string> = {}, attempts = 3): Promise<NodeProcess> => {
  const port = await freePort(host)
  const node = spawnNode({ ADDR: `${host}:${port}`, ...env })
  try {
    await node.waitForLog((line) => line["msg"] === "ready")
    return node
  } catch (error) {
    const portTaken = error instanceof Error && error.message.includes("EADDRINUSE")
    if (!portTaken || attempts <= 1) throw error
    return startNode(host, env, attempts - 1)
  }
}
