/**
 * QUORUM Get and Set throughput and latency: one node next to a three-node
 * cluster, measured in the same run. Nodes are real processes started like
 * `pnpm start`; the closed-loop load generator runs in its own process.
 *
 *   node --import tsx scripts/bench-cluster.ts [seconds=10] [inFlight=64]
 *
 * Prints a JSON line per scenario and a Markdown table. The machine has two
 * cores shared by every process, so compare ratios within one run.
 */
import { fork } from "node:child_process"
import { fileURLToPath } from "node:url"
import { connect } from "../test/support/clients.js"
import { clusterReady, freePort, type NodeProcess, spawnNode } from "../test/support/nodeProcess.js"

const KEYS = 1000
const VALUE = "v".repeat(100)

interface LoadResult {
  readonly ops: number
  readonly errors: number
  readonly seconds: number
  readonly p50Ms: number
  readonly p99Ms: number
}

/** Child: `inFlight` workers over `targets` (round-robin) for `seconds` after a 2 s warm-up. */
const load = async (targets: ReadonlyArray<string>, op: "set" | "get", seconds: number, inFlight: number) => {
  const clients = targets.map((t) => connect(t))
  for (let i = 0; i < KEYS; i++) await clients[i % clients.length]!.cache.set({ key: `key:${i}`, value: VALUE })
  const latencies: Array<number> = []
  let errors = 0
  let measuring = false
  let stop = false
  const worker = async (w: number) => {
    const client = clients[w % clients.length]!
    for (let i = w; !stop; i += inFlight) {
      const key = `key:${(i * 7919) % KEYS}`
      const started = performance.now()
      try {
        if (op === "set") await client.cache.set({ key, value: VALUE })
        else await client.cache.get({ key })
        if (measuring) latencies.push(performance.now() - started)
      } catch {
        if (measuring) errors++
      }
    }
  }
  const workers = Array.from({ length: inFlight }, (_, w) => worker(w))
  await new Promise((resolve) => setTimeout(resolve, 2000))
  measuring = true
  const began = performance.now()
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000))
  measuring = false
  const elapsed = (performance.now() - began) / 1000
  stop = true
  await Promise.all(workers)
  clients.forEach((c) => c.close())
  latencies.sort((a, b) => a - b)
  const at = (q: number) => Math.round((latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN) * 100) / 100
  const result: LoadResult = { ops: latencies.length, errors, seconds: elapsed, p50Ms: at(0.5), p99Ms: at(0.99) }
  process.send!(result)
}

const runLoad = (targets: ReadonlyArray<string>, op: "set" | "get", seconds: number, inFlight: number) =>
  new Promise<LoadResult>((resolve, reject) => {
    const child = fork(fileURLToPath(import.meta.url), ["load", targets.join(","), op, String(seconds), String(inFlight)], {
      execArgv: ["--import", "tsx"]
    })
    child.once("message", (message) => resolve(message as LoadResult))
    child.once("exit", (code) => code !== 0 && reject(new Error(`load generator exited ${code}`)))
  })

const startNodes = async (hosts: ReadonlyArray<string>): Promise<Array<NodeProcess>> => {
  const addresses = await Promise.all(hosts.map(async (h) => `${h}:${await freePort(h)}`))
  const nodes = addresses.map((addr) =>
    spawnNode({ ADDR: addr, PEERS: addresses.filter((a) => a !== addr).join(","), RATE_LIMIT: "0", CAPACITY: "100000" })
  )
  await clusterReady(nodes, hosts.length)
  return nodes
}

const [mode, ...args] = process.argv.slice(2)
if (mode === "load") {
  await load(args[0]!.split(","), args[1] as "set" | "get", Number(args[2]), Number(args[3]))
  process.exit(0)
} else {
  const seconds = Number(mode ?? 10)
  const inFlight = Number(args[0] ?? 64)
  const rows: Array<Record<string, unknown>> = []
  for (const [name, hosts] of [["one node", ["127.0.0.80"]], ["three nodes", ["127.0.0.81", "127.0.0.82", "127.0.0.83"]]] as const) {
    const nodes = await startNodes(hosts)
    for (const op of ["set", "get"] as const) {
      const result = await runLoad(nodes.map((n) => n.address), op, seconds, inFlight)
      // A node under full load must never be declared dead by the others.
      const falseDeaths = nodes.flatMap((n) => n.logs()).filter((l) => l["msg"] === "member dead").length
      const suspicions = nodes.flatMap((n) => n.logs()).filter((l) => l["msg"] === "member suspect").length
      const row = { scenario: name, op: `QUORUM ${op}`, opsPerSecond: Math.round(result.ops / result.seconds), ...result, suspicions, falseDeaths }
      console.log(JSON.stringify(row))
      rows.push(row)
    }
    await Promise.all(nodes.map((n) => n.stop("SIGTERM")))
  }
  console.log("\n| scenario | op | ops/s | p50 ms | p99 ms | errors |\n|---|---|---|---|---|---|")
  for (const r of rows) console.log(`| ${r["scenario"]} | ${r["op"]} | ${r["opsPerSecond"]} | ${r["p50Ms"]} | ${r["p99Ms"]} | ${r["errors"]} |`)
}
