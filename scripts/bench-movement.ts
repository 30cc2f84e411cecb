/**
 * Data movement: a three-node cluster holding KEYS keys of 100-byte values
 * absorbs a fourth node, then drains one (SIGTERM), under a light probe load
 * whose latency is compared with the same load before any movement.
 *
 *   node --import tsx scripts/bench-movement.ts [keys=1000000] [probeInFlight=8]
 *   (SYNC_BANDWIDTH in the environment is passed to the nodes, NODE_FLAGS as their NODE_OPTIONS)
 *
 * Reports, per movement: the time until the new owners have pulled their
 * ranges (and vote on them), the time until old owners have released what
 * they no longer replicate,
 * the records and bytes moved, the share of replica slots that moved next to
 * the ideal 1/n, and the probe's p99 during the movement next to p99 before.
 */
import { fork } from "node:child_process"
import { fileURLToPath } from "node:url"
import { parseMetrics } from "../testkit/admin.js"
import { connect } from "../testkit/clients.js"
import { clusterReady, freePort, type NodeProcess, ringOf, spawnNode } from "../testkit/nodeProcess.js"

const VALUE = "v".repeat(100)
const REPLICAS = 3
const MOVE_TIMEOUT_MS = 600_000

interface Sample {
  readonly at: number
  readonly ms: number
  readonly ok: boolean
  /** The error's first line, for failed calls. */
  readonly error?: string
}

/** Child: a closed-loop probe (half gets, half sets on loaded keys) until told to stop; sends its samples. */
const probe = async (targets: ReadonlyArray<string>, keys: number, inFlight: number) => {
  const clients = targets.map((t) => connect(t))
  const samples: Array<Sample> = []
  let stop = false
  process.on("message", () => {
    stop = true
  })
  const worker = async (w: number) => {
    const client = clients[w % clients.length]!
    for (let i = w; !stop; i += inFlight) {
      const key = `key:${(i * 7919) % keys}`
      const at = Date.now()
      const started = performance.now()
      try {
        if (i % 2 === 0) await client.cache.get({ key })
        else await client.cache.set({ key, value: VALUE })
        samples.push({ at, ms: performance.now() - started, ok: true })
      } catch (error) {
        const message = error instanceof Error ? error.message.split("\n")[0]! : String(error)
        samples.push({ at, ms: performance.now() - started, ok: false, error: message })
      }
    }
  }
  await Promise.all(Array.from({ length: inFlight }, (_, w) => worker(w)))
  clients.forEach((c) => c.close())
  process.send!(samples, () => process.exit(0))
}

const startProbe = (targets: ReadonlyArray<string>, keys: number, inFlight: number) => {
  const child = fork(fileURLToPath(import.meta.url), ["probe", targets.join(","), String(keys), String(inFlight)], {
    execArgv: ["--import", "tsx"]
  })
  const samples = new Promise<Array<Sample>>((resolve) => child.once("message", (m) => resolve(m as Array<Sample>)))
  return { stop: () => (child.send("stop"), samples) }
}

const p99 = (samples: ReadonlyArray<Sample>) => {
  const sorted = samples.filter((s) => s.ok).map((s) => s.ms).sort((a, b) => a - b)
  return Math.round((sorted[Math.floor(0.99 * (sorted.length - 1))] ?? NaN) * 100) / 100
}
const window = (samples: ReadonlyArray<Sample>, from: number, to: number) => samples.filter((s) => s.at >= from && s.at < to)

const ENV = {
  RATE_LIMIT: "0",
  CAPACITY: "10000000",
  MAX_MEMORY: "4GiB",
  TTL: "0",
  ANTI_ENTROPY_INTERVAL: "2s",
  LOG_LEVEL: "info",
  // Passed through, to compare caps: SYNC_BANDWIDTH=8MiB pnpm bench:movement
  ...(process.env["SYNC_BANDWIDTH"] === undefined ? {} : { SYNC_BANDWIDTH: process.env["SYNC_BANDWIDTH"] }),
  // And to profile the nodes: NODE_FLAGS="--cpu-prof --cpu-prof-dir=/tmp/prof" pnpm bench:movement
  ...(process.env["NODE_FLAGS"] === undefined ? {} : { NODE_OPTIONS: process.env["NODE_FLAGS"] })
}

const load = async (targets: ReadonlyArray<string>, keys: number) => {
  const clients = targets.map((t) => connect(t))
  let next = 0
  const started = Date.now()
  await Promise.all(Array.from({ length: 128 }, async (_, w) => {
    const client = clients[w % clients.length]!
    for (let i = next++; i < keys; i = next++) await client.cache.set({ key: `key:${i}`, value: VALUE })
  }))
  clients.forEach((c) => c.close())
  return (Date.now() - started) / 1000
}

/** Log lines of `node` after index `from` matching `predicate`. */
const linesAfter = (node: NodeProcess, from: number, predicate: (l: Record<string, unknown>) => boolean) =>
  node.logs().slice(from).filter(predicate)
const waitAfter = (node: NodeProcess, from: number, predicate: (l: Record<string, unknown>) => boolean) =>
  node.waitForLog((l) => predicate(l) && node.logs().indexOf(l) >= from, MOVE_TIMEOUT_MS)
const timeOf = (line: Record<string, unknown>) => Date.parse(String(line["time"]))
const isRelease = (l: Record<string, unknown>) => l["msg"] === "released keys this node no longer replicates"
/** A node that pulled the ranges a movement gave it (records and bytes pulled). */
const isPulled = (l: Record<string, unknown>) => l["msg"] === "synced: pulled its ranges"

const main = async (keys: number, inFlight: number) => {
  const hosts = ["127.0.0.121", "127.0.0.122", "127.0.0.123", "127.0.0.124"]
  const addresses = await Promise.all(hosts.map(async (h) => `${h}:${await freePort(h)}`))
  const first = addresses.slice(0, 3)
  const nodes = first.map((addr) => spawnNode({ ...ENV, ADDR: addr, PEERS: first.filter((a) => a !== addr).join(",") }))
  try {
    await clusterReady(nodes, 3)
    const loadSeconds = await load(first, keys)
    console.error(`loaded ${keys} keys in ${loadSeconds.toFixed(1)} s`)
    // The probe talks to the two nodes that stay throughout (the second one drains later).
    const probeRun = startProbe([first[0]!, first[2]!], keys, inFlight)
    await new Promise((resolve) => setTimeout(resolve, 10_000))
    const baselineEnd = Date.now()

    // ---- absorb a fourth node
    const joinStart = Date.now()
    const marks = nodes.map((n) => n.logs().length)
    const joiner = spawnNode({ ...ENV, ADDR: addresses[3]!, PEERS: first.join(",") })
    nodes.push(joiner)
    const joined = await joiner.waitForLog(isPulled, MOVE_TIMEOUT_MS)
    // Settled: the old owners dropped what they no longer replicate, once the ring with the joiner was stable.
    const released = await Promise.all(nodes.slice(0, 3).map((n, i) => waitAfter(n, marks[i]!, isRelease)))
    const joinEnd = Math.max(...released.map(timeOf))
    const releasedKeys = nodes.slice(0, 3).flatMap((n, i) => linesAfter(n, marks[i]!, isRelease)).reduce((sum, l) => sum + Number(l["released"]), 0)
    const join = {
      movement: "absorb a 4th node",
      votingAfterMs: timeOf(joined) - joinStart,
      settledAfterMs: joinEnd - joinStart,
      recordsPulled: Number(joined["records"]),
      bytesPulled: Number(joined["bytes"]),
      // Replica copies that changed place: each one the old owners released went to the joiner.
      copiesMoved: releasedKeys,
      shareMoved: releasedKeys / (keys * REPLICAS),
      idealShare: 1 / 4
    }

    // ---- drain one of the four
    await new Promise((resolve) => setTimeout(resolve, 5_000))
    const drainStart = Date.now()
    const leaver = nodes[1]!
    const stay = nodes.filter((n) => n !== leaver)
    const stayMarks = stay.map((n) => n.logs().length)
    // The copies that must move: every one the leaver holds goes to a member that stays.
    const leaverMetrics = parseMetrics(await (await fetch(`http://${await leaver.adminAddress()}/metrics`)).text())
    const leaverCopies = leaverMetrics.value("cache_store_entries") ?? NaN
    await leaver.stop("SIGTERM")
    // Settled: every node that stays has the stable ring of three (the members that took over pulled first).
    const settled = await Promise.all(stay.map((n, i) => waitAfter(n, stayMarks[i]!, ringOf(3))))
    const drainEnd = Math.max(...settled.map(timeOf))
    const pulled = stay.flatMap((n, i) => linesAfter(n, stayMarks[i]!, isPulled))
    const drain = {
      movement: "drain one of four",
      votingAfterMs: drainEnd - drainStart,
      settledAfterMs: drainEnd - drainStart,
      recordsPulled: pulled.reduce((sum, l) => sum + Number(l["records"]), 0),
      bytesPulled: pulled.reduce((sum, l) => sum + Number(l["bytes"]), 0),
      // The leaver's copies, each pulled by a member that takes it over (from every counted source).
      copiesMoved: leaverCopies,
      shareMoved: leaverCopies / (keys * REPLICAS),
      idealShare: 1 / 4
    }
    await new Promise((resolve) => setTimeout(resolve, 2_000))
    const samples = await probeRun.stop()
    const before = window(samples, 0, baselineEnd)
    const latency = {
      p99BeforeMs: p99(before),
      p99DuringJoinMs: p99(window(samples, joinStart, joinEnd)),
      p99DuringDrainMs: p99(window(samples, drainStart, drainEnd)),
      errorsDuringJoin: window(samples, joinStart, joinEnd).filter((s) => !s.ok).length,
      errorsDuringDrain: window(samples, drainStart, drainEnd).filter((s) => !s.ok).length,
      errorKinds: [...new Set(samples.filter((s) => !s.ok).map((s) => s.error))].slice(0, 5)
    }
    const result = { keys, valueBytes: VALUE.length, loadSeconds, join, drain, latency }
    console.log(JSON.stringify(result))
    console.log(`
| movement | voting after | settled after | copies moved (share; ideal) | records pulled (MiB) | probe p99 during (before) | probe errors |
|---|---|---|---|---|---|---|
| ${join.movement} | ${(join.votingAfterMs / 1000).toFixed(1)} s | ${(join.settledAfterMs / 1000).toFixed(1)} s | ${join.copiesMoved} (${join.shareMoved.toFixed(3)}; ${join.idealShare}) | ${join.recordsPulled} (${(join.bytesPulled / 2 ** 20).toFixed(1)}) | ${latency.p99DuringJoinMs} ms (${latency.p99BeforeMs} ms) | ${latency.errorsDuringJoin} |
| ${drain.movement} | ${(drain.votingAfterMs / 1000).toFixed(1)} s | ${(drain.settledAfterMs / 1000).toFixed(1)} s | ${drain.copiesMoved} (${drain.shareMoved.toFixed(3)}; ${drain.idealShare}) | ${drain.recordsPulled} (${(drain.bytesPulled / 2 ** 20).toFixed(1)}) | ${latency.p99DuringDrainMs} ms (${latency.p99BeforeMs} ms) | ${latency.errorsDuringDrain} |
`)
  } finally {
    await Promise.all(nodes.map((n) => n.stop("SIGKILL")))
  }
}

if (process.argv[2] === "probe") {
  await probe(process.argv[3]!.split(","), Number(process.argv[4]), Number(process.argv[5]))
} else {
  await main(Number(process.argv[2] ?? 1_000_000), Number(process.argv[3] ?? 8))
  process.exit(0)
}
