/**
 * Resident memory of a node holding N entries. The node runs in this process,
 * built from the same layers as `pnpm start` (so a full GC can be forced
 * before measuring); a child process fills it through the gRPC API with
 * 100-byte values, as a client would. Then, full, it answers Gets from h2load
 * (64 in flight) while this process records its GC pauses: the latency of
 * one node under load at N entries. Prints the figures and the issue-16
 * targets they meet.
 *
 *   node --expose-gc --import tsx scripts/fill-node.ts [entries=1000000] [inFlight=256]
 */
import { fork } from "node:child_process"
import { constants, PerformanceObserver } from "node:perf_hooks"
import { fileURLToPath } from "node:url"
import { ConfigProvider, Effect, Layer } from "effect"
import { NodeConfig } from "../src/config/NodeConfig.js"
import { GrpcServer } from "../src/grpc/GrpcServer.js"
import { NodeLive } from "../src/Layers.js"
import { Telemetry } from "../src/telemetry/Telemetry.js"
import { Store } from "../src/store/ShardedStore.js"
import { GetRequest } from "../src/generated/pb/cache.js"
import { connect } from "../testkit/clients.js"
import { grpcFrame, runH2load } from "./bench/h2load.js"
import { freePort } from "../testkit/nodeProcess.js"

const [mode, ...args] = process.argv.slice(2)
const keyOf = (i: number) => `key:${i.toString().padStart(10, "0")}`

/** Child: sets keys [0, entries) with `inFlight` calls in flight over 4 channels. */
const load = async (address: string, entries: number, inFlight: number) => {
  const clients = Array.from({ length: 4 }, () => connect(address))
  const value = "v".repeat(100)
  let next = 0
  const worker = async (w: number) => {
    const client = clients[w % clients.length]!
    for (let i = next++; i < entries; i = next++) await client.cache.set({ key: keyOf(i), value })
  }
  await Promise.all(Array.from({ length: inFlight }, (_, w) => worker(w)))
  clients.forEach((c) => c.close())
}

const mib = (bytes: number) => Math.round(bytes / 2 ** 20)
const settled = () => {
  const gc = (globalThis as { gc?: () => void }).gc
  if (gc === undefined) throw new Error("run with node --expose-gc")
  gc()
  gc()
  return process.memoryUsage()
}

const measure = (entries: number, inFlight: number) =>
  Effect.gen(function*() {
    const server = yield* GrpcServer
    const store = yield* Store
    const empty = settled()
    const started = performance.now()
    yield* Effect.async<void, Error>((resume) => {
      const child = fork(fileURLToPath(import.meta.url), ["load", server.address, String(entries), String(inFlight)], {
        execArgv: ["--import", "tsx"]
      })
      child.once("exit", (code) => resume(code === 0 ? Effect.void : Effect.fail(new Error(`loader exited ${code}`))))
    })
    const seconds = (performance.now() - started) / 1000
    const filled = settled()
    const heapPerEntry = (filled.heapUsed + filled.external - empty.heapUsed - empty.external) / entries
    const rssPerEntry = (filled.rss - empty.rss) / entries
    console.log(JSON.stringify({
      entries: store.stats().entries,
      fillSeconds: Math.round(seconds),
      setsPerSecond: Math.round(entries / seconds),
      emptyRssMiB: mib(empty.rss),
      filledRssMiB: mib(filled.rss),
      heapUsedMiB: mib(filled.heapUsed),
      heapTotalMiB: mib(filled.heapTotal),
      externalMiB: mib(filled.external),
      rssBytesPerEntry: Math.round(rssPerEntry),
      heapBytesPerEntry: Math.round(heapPerEntry)
    }))

    // Full: Gets under load, with the GC pauses they meet.
    const pauses: Array<{ readonly ms: number; readonly kind: string }> = []
    const kinds: Record<number, string> = {
      [constants.NODE_PERFORMANCE_GC_MINOR]: "minor",
      [constants.NODE_PERFORMANCE_GC_MAJOR]: "major",
      [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: "incremental",
      [constants.NODE_PERFORMANCE_GC_WEAKCB]: "weak callbacks"
    }
    // GC entries arrive after the collection: the forced ones above come in late, and are left out by their start.
    const from = performance.now()
    const observer = new PerformanceObserver((list) =>
      list.getEntries().filter((entry) => entry.startTime >= from).forEach((entry) => {
        const kind = (entry as { detail?: { kind?: number } }).detail?.kind ?? 0
        pauses.push({ ms: entry.duration, kind: kinds[kind] ?? String(kind) })
      }))
    observer.observe({ entryTypes: ["gc"] })
    const loaded = yield* Effect.promise(() =>
      runH2load({
        method: "Get",
        path: "/pb.CacheService/Get",
        // Two keys that were set (found, so each Get carries a value back).
        targets: [0, 1].map((i) => ({ address: server.address, body: grpcFrame(GetRequest.encode(GetRequest.fromPartial({ key: keyOf((i * 7919) % entries) })).finish()) })),
        inFlight: 64,
        durationS: 10,
        warmupS: 2,
        servers: [{ label: "node", pid: process.pid }]
      })
    )
    observer.disconnect()
    pauses.sort((a, b) => b.ms - a.ms)
    const { latency } = loaded
    console.log(JSON.stringify({
      loadedGetsPerSecond: loaded.rps,
      latencyMs: latency,
      gcPauses: pauses.length,
      gcPausedMs: Math.round(pauses.reduce((sum, p) => sum + p.ms, 0)),
      longestGcPauses: pauses.slice(0, 5).map((p) => `${p.ms.toFixed(1)} ms ${p.kind}`)
    }))
    // What the entries cost beyond their key and value (14 and 100 bytes of Latin-1 text).
    const overhead = heapPerEntry - keyOf(0).length - 100
    const targets: ReadonlyArray<readonly [string, string, boolean]> = [
      ["live heap overhead per entry ≤ 200 B", `${Math.round(overhead)} B`, overhead <= 200],
      ["RSS per entry ≤ 2× live heap per entry", `${(rssPerEntry / heapPerEntry).toFixed(2)}× (${Math.round(rssPerEntry)} B vs ${Math.round(heapPerEntry)} B)`, rssPerEntry <= 2 * heapPerEntry],
      ["p99.9 under load ≤ 20 ms", `${latency.p999Ms} ms`, latency.p999Ms <= 20]
    ]
    for (const [target, measured, met] of targets) console.log(`${met ? "met    " : "not met"}  ${target}: ${measured}`)
  })

if (mode === "load") {
  await load(args[0]!, Number(args[1]), Number(args[2]))
} else {
  const entries = Number(mode ?? 1_000_000)
  const inFlight = Number(args[0] ?? 256)
  const port = await freePort("127.0.0.20")
  const env = new Map([
    ["ADDR", `127.0.0.20:${port}`],
    ["CAPACITY", String(entries)],
    ["MAX_MEMORY", "8GiB"],
    ["TTL", "0"],
    ["RATE_LIMIT", "0"],
    ["LOG_LEVEL", "warn"]
  ])
  const layer = NodeLive.pipe(Layer.provide(Telemetry.layerOff), Layer.provide(NodeConfig.layerFromEnv))
  await Effect.runPromise(
    Effect.scoped(measure(entries, inFlight).pipe(Effect.provide(layer))).pipe(
      Effect.withConfigProvider(ConfigProvider.fromMap(env))
    )
  )
}
