/**
 * Sends one call of a fuzz batch again, alone, to a fresh cluster of its
 * target, and says what came back and how the nodes are: the step between
 * a finding in the report and a regression test.
 *
 *   node --import tsx test/fuzz/replay.ts "<target>" "<phase>" <batch> <call> [--all]
 *
 * with the target, phase, batch and call the report names (and FUZZ_SEED as
 * it printed). The batch is generated again from the same seed; values that
 * name the cluster (addresses, generations, ring tokens) are this cluster's.
 * With --all, the calls of the batch before it are sent first, one by one.
 */
import fc from "fast-check"
import { FuzzCluster, LIMITS } from "./support/cluster.js"
import { RssMonitor } from "./support/monitor.js"
import { options } from "./support/options.js"
import { PHASES } from "./support/phases.js"
import { rawCall, statusName } from "./support/rawGrpc.js"
import { batchSeed } from "./support/runner.js"
import { loopbackOnly } from "./support/safety.js"
import { FUZZ_TARGETS } from "./support/targets.js"

const [targetName, phaseName, batchText, callText, flag] = process.argv.slice(2)
const target = FUZZ_TARGETS.find((t) => t.name === targetName)
const phase = PHASES.find((p) => p.name === phaseName)
const batch = Number(batchText)
const call = Number(callText)
if (target === undefined || phase === undefined || !Number.isInteger(batch) || !Number.isInteger(call)) {
  console.error(`usage: replay.ts "<${FUZZ_TARGETS.map((t) => t.name).join("|")}>" "<${PHASES.map((p) => p.name).join("|")}>" <batch> <call> [--all]`)
  process.exit(2)
}

const cluster = new FuzzCluster(target)
const monitor = new RssMonitor(() => cluster.nodes, options.rssBoundBytes)
try {
  await cluster.start()
  monitor.start()
  const ctx = await cluster.context(LIMITS)
  const cases = fc.sample(phase.cases(ctx), { seed: batchSeed(options.seed, target.name, phase.name, batch), numRuns: call + 1 })
  for (const [i, c] of cases.entries()) {
    if (i < call && flag !== "--all") continue
    if (c.kind === "grpc" && !c.messages.every((m) => loopbackOnly(c.method.requestType, m))) {
      console.log(`call ${i}: not sent (it names a host off this machine)`)
      continue
    }
    const started = performance.now()
    let outcome: string
    if (c.kind === "grpc") {
      const caller = phase.caller(target, i)
      const o = await rawCall(cluster.raw(caller, c.node), c.method, c.messages, { metadata: caller.metadata, deadlineMs: 60_000 })
      outcome = `${statusName(o.code)}: ${o.details}`
    } else {
      const response = await fetch(`http://${cluster.admins[c.node]}${c.path}`, {
        method: c.method,
        headers: { ...target.adminHeaders, ...(c.contentType === undefined ? {} : { "content-type": c.contentType }) },
        ...(c.body === undefined ? {} : { body: c.body })
      })
      outcome = `HTTP ${response.status}: ${(await response.text()).slice(0, 200)}`
    }
    monitor.sample()
    const method = c.kind === "grpc" ? c.method.name : c.label
    console.log(`call ${i} to node ${c.node}: ${method} -> ${outcome} after ${(performance.now() - started).toFixed(0)} ms`)
    if (i === call) console.log(`  input: ${c.shape}\n  bytes: ${c.kind === "grpc" ? c.messages.map((m) => m.length).join(" + ") : c.body?.length ?? 0}`)
  }
  console.log(`peak RSS per node (MiB): ${monitor.peaks.map((p) => (p / 2 ** 20).toFixed(0)).join(", ")}; killed over the bound: ${JSON.stringify(monitor.blowups)}; dead: ${JSON.stringify(cluster.dead())}`)
} finally {
  monitor.stop()
  await cluster.stop()
}
