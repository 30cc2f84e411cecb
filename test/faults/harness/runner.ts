import { spawn } from "node:child_process"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { checkHistory, type Verdict } from "../../../testkit/linearizability/checker.js"
import type { Operation } from "../../../testkit/linearizability/history.js"
import { clusterReady, type NodeProcess, repoRoot, spawnNode } from "../../../testkit/nodeProcess.js"
import { type FaultCluster, nemeses, SPARES } from "./nemesis.js"
import { create, destroy } from "./netns.js"
import { type NemesisEvent, type RunSummary, writeReport } from "./report.js"
import { prng } from "../../../testkit/random.js"
import type { WorkloadConfig } from "./workload.js"

export interface FaultRunOptions {
  readonly nemesis: keyof typeof nemeses
  readonly consistency: "ONE" | "QUORUM" | "ALL"
  readonly seed: number
  readonly nodes?: number
  readonly durationMs?: number
  readonly clients?: number
  readonly keys?: number
  /** How long each fault lasts, and the quiet gap after it. */
  readonly faultMs?: number
  readonly quietMs?: number
  /** Settings for every node on top of the harness's own (shrunk timers, no rate limit). */
  readonly env?: Readonly<Record<string, string>>
  /** Settings for some nodes only, by index (a node with a small CAPACITY). */
  readonly envFor?: Readonly<Record<number, Readonly<Record<string, string>>>>
  /** Sets carry a TTL of 1 to this many seconds (half of them); 0: the node's default TTL. */
  readonly ttlSeconds?: number
  /** Check with keys that may vanish (eviction, expiry): an older value must still never return. */
  readonly mayVanish?: boolean
  /**
   * Start the workload before the cluster is ready, so formation is under
   * test too: as soon as every node answers on its port (true), or before
   * the nodes start at all ("first").
   */
  readonly trafficFromStart?: boolean | "first"
  /** The clients' deadline per call: at least as long as a request can take inside the cluster. */
  readonly deadlineMs?: number
  /** A name for the run's report (default: nemesis, consistency and seed). */
  readonly name?: string
}

/** The harness's node settings: timers shrunk so that faults of a few seconds outlast them. */
export const FAULT_ENV: Readonly<Record<string, string>> = {
  // Nodes listen on 10.x addresses (not loopback): peers must authenticate.
  CLUSTER_SECRET: "fault-suite-cluster-secret",
  RPC_TIMEOUT: "1",
  RATE_LIMIT: "0",
  DEAD_NODE_TIMEOUT: "2",
  ANTI_ENTROPY_INTERVAL: "1",
  // Each node's admin server binds its namespace's address, beyond loopback: it starts only with a token.
  ADMIN_TOKEN: "fault-suite-admin-token-0123456789"
}

export interface FaultRunResult {
  readonly summary: RunSummary
  readonly verdict: Verdict
  readonly history: ReadonlyArray<Operation>
  readonly events: ReadonlyArray<NemesisEvent>
  readonly reportDir: string
}

const PORT = 8080
/** Debian's libfaketime (package faketime), preloaded into nodes whose clocks the nemesis moves. */
const FAKETIME_LIBRARY = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** The process-unique namespace prefix (veth names must stay within 15 characters). */
const prefixFor = (seed: number) => `qf${process.pid % 1000}${seed % 100}`

/**
 * One fault run: a cluster in network namespaces, the workload in the client
 * namespace, the nemesis cycling fault and heal until the workload's main
 * phase ends, then the linearizability check and a report under
 * `.reports/faults/`. Everything it made is torn down, even on failure.
 */
export const runFaults = async (options: FaultRunOptions): Promise<FaultRunResult> => {
  const nodeCount = options.nodes ?? 3
  const durationMs = options.durationMs ?? 15_000
  const faultMs = options.faultMs ?? 3_000
  const quietMs = options.quietMs ?? 2_000
  const name = options.name ?? `${options.nemesis}-${options.consistency}-${options.seed}`
  const prefix = prefixFor(options.seed)
  const topology = create(prefix, nodeCount + SPARES)
  const work = mkdtempSync(join(tmpdir(), "faults-"))
  // Clock skew needs every node's wall clock behind libfaketime, driven by a file per node.
  const clockFiles = options.nemesis === "clock-skew"
    ? topology.nodes.map((_, i) => join(work, `clock-n${i + 1}`))
    : undefined
  clockFiles?.forEach((file) => writeFileSync(file, "+0\n"))
  const addresses = topology.nodes.map((h) => `${h.ip}:${PORT}`)
  const nodes: Array<NodeProcess | undefined> = topology.nodes.map(() => undefined)
  const exited = new Set<number>()
  const start = (i: number): boolean => {
    const previous = nodes[i]
    if (previous !== undefined && !exited.has(i)) return false
    const clock = clockFiles === undefined ? {} : {
      LD_PRELOAD: FAKETIME_LIBRARY,
      FAKETIME_TIMESTAMP_FILE: clockFiles[i]!,
      FAKETIME_CACHE_DURATION: "1",
      FAKETIME_DONT_FAKE_MONOTONIC: "1"
    }
    // The first nodes name each other (the cluster they start); a spare names them (it joins later).
    const seeds = addresses.slice(0, nodeCount).filter((a) => a !== addresses[i])
    const node = spawnNode({
      ADDR: addresses[i]!,
      PEERS: seeds.join(","),
      ...FAULT_ENV,
      ...options.env,
      ...options.envFor?.[i],
      ...clock
    }, { netns: topology.nodes[i]!.ns })
    exited.delete(i)
    void node.exited.then(() => {
      if (nodes[i] === node) exited.add(i)
    })
    nodes[i] = node
    return true
  }
  // Spares stay down until a membership nemesis starts them.
  const spareIndices = topology.nodes.map((_, i) => i).filter((i) => i >= nodeCount)
  const cluster: FaultCluster = { hosts: topology.nodes, nodes, crashed: new Set(spareIndices), start, clockFiles }
  const running = () => nodes.filter((node): node is NodeProcess => node !== undefined)
  // Interrupted (Ctrl-C, CI timeout): leave no processes or namespaces behind.
  const onSignal = () => {
    for (const node of running()) node.child.kill("SIGKILL")
    destroy(prefix)
    process.exit(130)
  }
  process.once("SIGINT", onSignal)
  process.once("SIGTERM", onSignal)
  try {
    const config: WorkloadConfig = {
      targets: addresses.slice(0, nodeCount),
      clients: options.clients ?? Math.max(6, nodeCount),
      keys: options.keys ?? 4,
      durationMs,
      settleMs: 3_000,
      deadlineMs: options.deadlineMs ?? 5_000,
      consistency: options.consistency,
      seed: options.seed,
      ttlSeconds: options.ttlSeconds ?? 0
    }
    const configPath = join(work, "config.json")
    const historyPath = join(work, "history.json")
    writeFileSync(configPath, JSON.stringify(config))
    const spawnWorkload = () => {
      const child = spawn(
        "ip",
        ["netns", "exec", topology.client.ns, process.execPath, "--import", "tsx", join(repoRoot, "test/faults/harness/workload.ts"), configPath, historyPath],
        { cwd: repoRoot, stdio: ["ignore", "pipe", "inherit"] }
      )
      const started = new Promise<void>((resolve) => child.stdout!.on("data", (chunk: Buffer) => chunk.toString().includes("workload started") && resolve()))
      return { child, started }
    }
    // Traffic from the start: clients already calling when the nodes start ("first"), or from
    // when every node answers on its port (true), before any of them is ready; else once ready.
    const listening = (node: NodeProcess) => node.waitForLog((line) => line["msg"] === "listening")
    let workload: ReturnType<typeof spawnWorkload>["child"]
    if (options.trafficFromStart === "first") {
      const early = spawnWorkload()
      await early.started
      workload = early.child
      for (let i = 0; i < nodeCount; i++) start(i)
    } else {
      for (let i = 0; i < nodeCount; i++) start(i)
      if (options.trafficFromStart === true) await Promise.all(running().map(listening))
      else await clusterReady(running(), nodeCount)
      workload = spawnWorkload().child
    }
    const workloadDone = new Promise<number | null>((resolve) => workload.once("exit", resolve))
    const originEpochMs = Date.now()

    // The nemesis: fault, heal, quiet, until the main phase ends.
    const nemesis = nemeses[options.nemesis]!
    const random = prng(options.seed * 7 + 1)
    const events: Array<NemesisEvent> = []
    await sleep(quietMs)
    while (Date.now() - originEpochMs + faultMs < durationMs) {
      const startMs = Date.now() - originEpochMs
      const description = nemesis.start(cluster, random)
      await sleep(faultMs)
      nemesis.stop(cluster)
      events.push({ name: nemesis.name, description, startMs, endMs: Date.now() - originEpochMs })
      await sleep(quietMs)
    }
    const exitCode = await workloadDone
    if (exitCode !== 0) throw new Error(`workload exited with ${exitCode}`)
    const recorded = JSON.parse(readFileSync(historyPath, "utf8")) as { history: Array<Operation>; originEpochMs: number }
    // Nemesis times on the workload's clock (both are wall-clock origins; close enough for a picture).
    const shift = originEpochMs - recorded.originEpochMs
    const aligned = events.map((e) => ({ ...e, startMs: e.startMs + shift, endMs: e.endMs + shift }))

    const history = recorded.history
    const verdict = checkHistory(history, { mayVanish: options.mayVanish === true })
    const count = (outcome: Operation["outcome"]) => history.filter((op) => op.outcome === outcome).length
    const summary: RunSummary = {
      name,
      nodes: nodeCount,
      nemesis: options.nemesis,
      consistency: options.consistency,
      seed: options.seed,
      operations: history.length,
      ok: count("ok"),
      fail: count("fail"),
      unknown: count("unknown"),
      linearizable: verdict.ok
    }
    const reportDir = join(repoRoot, ".reports", "faults", name)
    writeReport(reportDir, summary, history, aligned, verdict)
    return { summary, verdict, history, events: aligned, reportDir }
  } finally {
    process.off("SIGINT", onSignal)
    process.off("SIGTERM", onSignal)
    await Promise.all(running().map((node) => {
      node.child.kill("SIGCONT")
      return node.stop("SIGKILL")
    }))
    destroy(prefix)
    rmSync(work, { recursive: true, force: true })
  }
}
