import fc from "fast-check"
import type { HttpCase } from "./adminCases.js"
import { type GrpcCase, keepsResponses } from "./cases.js"
import { FuzzCluster, LIMITS } from "./cluster.js"
import { checkKnownKeys, writeKnownKeys } from "./knownKeys.js"
import { RssMonitor } from "./monitor.js"
import type { Case, Phase } from "./phases.js"
import { rawCall, statusName } from "./rawGrpc.js"
import type { FuzzReport } from "./report.js"
import { loopbackOnly } from "./safety.js"
import type { FuzzTarget } from "./targets.js"

/** How much to fuzz, and the bounds every batch is judged by (see `options.ts`). */
export interface RunOptions {
  readonly seed: number
  /** Calls per target, split across its phases by share; undefined: as many as `secondsPerTarget` allows. */
  readonly callsPerTarget: number | undefined
  readonly secondsPerTarget: number | undefined
  readonly batchSize: number
  readonly concurrency: number
  readonly deadlineMs: number
  readonly rssBoundBytes: number
  readonly maxRestarts: number
  readonly phases: ReadonlyArray<Phase>
}

/** What happened to one call of a batch. */
interface Sent {
  readonly index: number
  readonly c: Case
  readonly start: number
  end?: number
  size: number
}

/** A 32-bit seed per target, phase and batch, so that any batch can be generated again alone. */
export const batchSeed = (seed: number, ...parts: ReadonlyArray<string | number>) => {
  let h = 0x811c9dc5 ^ seed
  for (const ch of parts.join("/")) h = Math.imul(h ^ ch.charCodeAt(0), 0x01000193)
  return h | 0
}

const sizeOf = (c: Case) => c.kind === "grpc" ? c.messages.reduce((n, m) => n + m.length, 0) : (c.body?.length ?? 0)
const methodOf = (c: Case) => c.kind === "grpc" ? c.method.name : c.label
const isSafe = (c: Case) => c.kind === "http" || c.messages.every((m) => loopbackOnly(c.method.requestType, m))

/** Fuzzes one target on a cluster of its own, phase after phase; findings and counts go to `report`. */
export const fuzzTarget = async (target: FuzzTarget, options: RunOptions, report: FuzzReport): Promise<void> => {
  const cluster = new FuzzCluster(target)
  const monitor = new RssMonitor(() => cluster.nodes, options.rssBoundBytes)
  let restarts = 0
  const peaks: Array<number> = []
  try {
    const starting = performance.now()
    await cluster.start()
    await writeKnownKeys(cluster)
    report.notes.push(`${target.name}: cluster up and known keys written in ${((performance.now() - starting) / 1000).toFixed(1)} s`)
    monitor.start()
    /** A fresh cluster after a node died, unless there were too many already. */
    const restart = async (where: string, phase: string) => {
      if (++restarts > options.maxRestarts) {
        report.add({ kind: "aborted", target: target.name, phase, where, method: "", shape: "", detail: `stopped after ${options.maxRestarts} restarts of the cluster` })
        return false
      }
      await cluster.restart()
      await writeKnownKeys(cluster)
      monitor.reset()
      return true
    }
    const phases = options.phases.filter((p) => p.applies(target))
    const shares = phases.reduce((n, p) => n + p.share, 0)
    for (const phase of phases) {
      const phaseStarted = performance.now()
      const spent = { context: 0, generate: 0, calls: 0, checks: 0 }
      const calls = options.callsPerTarget === undefined ? Infinity : Math.round((options.callsPerTarget * phase.share) / shares)
      const until = options.secondsPerTarget === undefined ? Infinity : performance.now() + (options.secondsPerTarget * 1000 * phase.share) / shares
      for (let batch = 0, done = 0; done < calls && performance.now() < until; batch++) {
        const where = `FUZZ_SEED=${options.seed} ${target.name} / ${phase.name} / batch ${batch}`
        let t = performance.now()
        const ctx = await cluster.context(LIMITS).catch((error: unknown) => error instanceof Error ? error : new Error(String(error)))
        spent.context += performance.now() - t
        if (ctx instanceof Error) {
          // The admin server did not answer (the batch before left a node dead or wedged): judged like a crash.
          if (cluster.dead().length === 0) report.add({ kind: "hang", target: target.name, phase: phase.name, where, method: "admin Status/Ring", shape: "", detail: ctx.message })
          else await judge(cluster, monitor, phase, [], options, report, where)
          if (!(await restart(where, phase.name))) return
          continue
        }
        t = performance.now()
        const generated = fc.sample(phase.cases(ctx), { seed: batchSeed(options.seed, target.name, phase.name, batch), numRuns: Math.min(options.batchSize, calls - done) })
        done += generated.length
        // Unsafe ones become holes, so that a call keeps its index in the generated batch (replay.ts).
        const cases = generated.map((c) => (isSafe(c) ? c : undefined))
        report.skippedUnsafe += cases.filter((c) => c === undefined).length
        spent.generate += performance.now() - t
        monitor.reset()
        t = performance.now()
        const sent = await runBatch(cluster, phase, cases, options, report, where)
        spent.calls += performance.now() - t
        t = performance.now()
        monitor.sample()
        peaks.push(...monitor.peaks)
        if (process.env["FUZZ_VERBOSE"] !== undefined) {
          const stats = await Promise.all(cluster.nodes.map((_, i) => cluster.admin<{ bytes: number; entries: number; heapUsedBytes: number }>(i, "Stats").catch(() => undefined)))
          const mib = (n: number | undefined) => n === undefined ? "?" : (n / 2 ** 20).toFixed(0)
          report.notes.push(`${where}: peak RSS ${monitor.peaks.map(mib).join("/")} MiB; store ${stats.map((x) => `${x?.entries}:${mib(x?.bytes)}`).join("/")} MiB; heap ${stats.map((x) => mib(x?.heapUsedBytes)).join("/")} MiB`)
        }
        const verdict = await judge(cluster, monitor, phase, sent, options, report, where)
        spent.checks += performance.now() - t
        if (verdict === "restart" && !(await restart(where, phase.name))) return
      }
      const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`
      report.notes.push(`${target.name} / ${phase.name}: ${secs(performance.now() - phaseStarted)} (calls ${secs(spent.calls)}, checks ${secs(spent.checks)}, context ${secs(spent.context)}, generating ${secs(spent.generate)})`)
    }
  } finally {
    monitor.stop()
    report.notes.push(`${target.name}: peak RSS of a node ${(Math.max(0, ...peaks) / 2 ** 20).toFixed(0)} MiB (bound ${(options.rssBoundBytes / 2 ** 20).toFixed(0)} MiB), ${restarts} restarts`)
    await cluster.stop()
  }
}

/** Calls to `node` in flight at `at`, the longest-running first: a request that blows a node up is still being worked on. */
const inFlight = (sent: ReadonlyArray<Sent>, node: number, at: number) =>
  sent.filter((s) => s.c.node === node && s.start <= at && (s.end === undefined || s.end >= at - 50)).sort((a, b) => a.start - b.start)

/** The other calls to `node` in flight at `at`, for a report: the likelier causes of a crash or hang. */
const alsoInFlight = (sent: ReadonlyArray<Sent>, self: Sent | undefined, node: number, at: number) => {
  const others = inFlight(sent, node, at).filter((s) => s !== self)
  return others.length === 0
    ? ""
    : `; ${others.length} other calls in flight to node ${node} then, longest-running: ${others.slice(0, 3).map((s) => `call ${s.index} ${methodOf(s.c)} (${s.size} bytes) ${s.c.shape.slice(0, 100)}`).join("; ")}`
}

/** Sends the batch's calls, `concurrency` at a time; records each status, hang and broken contract. */
const runBatch = async (cluster: FuzzCluster, phase: Phase, cases: ReadonlyArray<Case | undefined>, options: RunOptions, report: FuzzReport, where: string) => {
  const sent: Array<Sent> = []
  let next = 0
  const worker = async () => {
    while (next < cases.length) {
      const index = next++
      const c = cases[index]
      if (c === undefined) continue
      const record: Sent = { index, c, start: performance.now(), size: sizeOf(c) }
      sent.push(record)
      const result = c.kind === "grpc" ? await sendGrpc(cluster, phase, c, index, options) : await sendHttp(cluster, c, options)
      record.end = performance.now()
      report.record(methodOf(c), result.status, record.end - record.start, result.detail)
      if (result.observation !== undefined) report.observe(`${methodOf(c)} ${result.status}`, result.observation)
      // A call to a node that died meanwhile is judged with the crash, not on its own.
      if (cluster.exitedAt.has(cluster.nodes[c.node]!)) continue
      const base = { target: cluster.target.name, phase: phase.name, where: `${where} / call ${index}`, method: methodOf(c), shape: c.shape }
      if (result.hang !== undefined) report.add({ ...base, kind: "hang", detail: `${result.hang}${alsoInFlight(sent, record, c.node, record.start)}` })
      if (result.violation !== undefined) report.add({ ...base, kind: "contract", detail: result.violation })
    }
  }
  await Promise.all(Array.from({ length: options.concurrency }, worker))
  return sent
}

interface Result {
  readonly status: string
  readonly detail?: string
  /** Worth a look but not a failure: the first one per method and status is printed. */
  readonly observation?: string
  readonly hang?: string
  readonly violation?: string
}

/**
 * A replica batch routed with an epoch newer than the receiver's waits up to
 * RPC_TIMEOUT while the receiver learns it from the sender; a stream does
 * that once per message, in order.
 */
const RPC_TIMEOUT_MS = 5_000
const deadlineOf = (c: GrpcCase, options: RunOptions) => options.deadlineMs + (c.method.requestStream ? c.messages.length * RPC_TIMEOUT_MS : 0)

const sendGrpc = async (cluster: FuzzCluster, phase: Phase, c: GrpcCase, index: number, options: RunOptions): Promise<Result> => {
  const caller = phase.caller(cluster.target, index)
  const deadlineMs = deadlineOf(c, options)
  const outcome = await rawCall(cluster.raw(caller, c.node), c.method, c.messages, {
    metadata: caller.metadata,
    deadlineMs,
    keepResponses: keepsResponses(c)
  })
  const status = statusName(outcome.code)
  const hang = outcome.hang ? `no status within ${deadlineMs} ms (${status} after ${outcome.elapsedMs.toFixed(0)} ms)` : undefined
  const violation = phase.oracle !== undefined ? phase.oracle(outcome, caller) : c.oracle?.(outcome)
  return { status, detail: outcome.details, ...(hang === undefined ? {} : { hang }), ...(violation === undefined ? {} : { violation: `${violation} (${status})` }) }
}

const sendHttp = async (cluster: FuzzCluster, c: HttpCase, options: RunOptions): Promise<Result> => {
  const headers: Record<string, string> = { ...cluster.target.adminHeaders }
  if (c.contentType !== undefined) headers["content-type"] = c.contentType
  const started = performance.now()
  try {
    const response = await fetch(`http://${cluster.admins[c.node]}${c.path}`, {
      method: c.method,
      headers,
      ...(c.body === undefined ? {} : { body: c.body }),
      signal: AbortSignal.timeout(options.deadlineMs)
    })
    const body = Buffer.from(await response.arrayBuffer()).toString("utf8")
    // A status is what the property asks for; a server error other than "not ready" is still worth a look.
    const observation = response.status >= 500 && response.status !== 503 ? `${body.slice(0, 120)} <- ${c.shape}` : undefined
    return { status: `HTTP ${response.status}`, ...(observation === undefined ? {} : { observation }) }
  } catch (error) {
    const name = error instanceof Error ? error.name : ""
    if (name === "TimeoutError") return { status: "TIMEOUT", hang: `no HTTP response within ${options.deadlineMs} ms` }
    const cause = error instanceof Error && error.cause instanceof Error ? (error.cause as Error & { code?: string }).code ?? error.cause.message : String(error)
    return { status: `NO_RESPONSE ${cause}`, violation: `no HTTP status after ${(performance.now() - started).toFixed(0)} ms: ${cause}` }
  }
}

/**
 * After a batch: a node that died or blew its memory is a finding (with the
 * calls it had in flight then as suspects) and the cluster is started
 * again; otherwise the known keys must read back through every node.
 */
const judge = async (cluster: FuzzCluster, monitor: RssMonitor, phase: Phase, sent: ReadonlyArray<Sent>, options: RunOptions, report: FuzzReport, where: string) => {
  const dead = cluster.dead()
  for (const { node, how } of dead) {
    const blowup = monitor.blowups.find((b) => b.node === node)
    const at = blowup?.at ?? cluster.exitedAt.get(cluster.nodes[node]!) ?? performance.now()
    const first = inFlight(sent, node, at)[0]
    const stderr = cluster.nodes[node]!.stderr().trim().split("\n").slice(-3).join(" | ").slice(0, 300)
    report.add({
      kind: blowup !== undefined ? "memory" : "crash",
      target: cluster.target.name,
      phase: phase.name,
      where: first === undefined ? where : `${where} / call ${first.index}`,
      method: first === undefined ? "?" : methodOf(first.c),
      shape: first?.c.shape ?? "",
      detail: (blowup !== undefined
        ? `node ${node} reached ${(blowup.rssBytes / 2 ** 20).toFixed(0)} MiB RSS (bound ${(options.rssBoundBytes / 2 ** 20).toFixed(0)} MiB) and was killed`
        : `node ${node} ${how}${stderr === "" ? "" : `; stderr: ${stderr}`}`) + alsoInFlight(sent, first, node, at)
    })
  }
  if (dead.length > 0) return "restart" as const
  // A node that left calls unanswered may be wedged: go on with a fresh cluster (the hangs are findings already).
  const hangs = report.findings.filter((f) => f.kind === "hang" && f.where.startsWith(`${where} /`)).length
  if (hangs > 0) {
    report.notes.push(`${where}: ${hangs} calls unanswered; the cluster is started again`)
    return "restart" as const
  }
  const problems = await checkKnownKeys(cluster, options.deadlineMs)
  if (problems.length === 0) return "ok" as const
  const detail = `${problems.length} reads of known keys failed: ${problems.slice(0, 4).join("; ")}`
  if (phase.knownKeys === "check") {
    report.add({ kind: "known keys", target: cluster.target.name, phase: phase.name, where, method: "pb.CacheService/Get", shape: "", detail })
  } else {
    report.notes.push(`${where}: ${detail} (not a failure in this phase)`)
  }
  // Written again, so the next batch is judged on its own.
  await writeKnownKeys(cluster).catch((error) => report.notes.push(`${where}: known keys not written again: ${String(error)}`))
  return "ok" as const
}
