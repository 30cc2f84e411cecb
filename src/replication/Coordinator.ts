import { Effect, Runtime } from "effect"
import { Hlc } from "../clock/Hlc.js"
import { NodeConfig, selfAddress } from "../config/NodeConfig.js"
import { PeerClient } from "../peer/PeerClient.js"
import { Ring } from "../placement/Ring.js"
import { Metrics } from "../telemetry/Metrics.js"
import { Telemetry } from "../telemetry/Telemetry.js"
import { makeCoordination } from "./coordination.js"
import { LocalReplica } from "./LocalReplica.js"
import { makeReadPath } from "./readPath.js"
import { makeSpeculation } from "./speculation.js"
import { makeWritePath } from "./writePath.js"

export type { FoundValue } from "./readPath.js"
export type { WriteOutcome } from "./writePath.js"

/**
 * The coordinator every client request goes through. It sends a write with
 * a fresh HLC version to all of the key's replicas and succeeds once W have
 * applied it (`writePath`); it reads from the replicas, takes the newest
 * answer, and when the answers disagree writes the winner back to a quorum
 * before answering (ABD, `readPath`), so QUORUM reads and writes are
 * linearizable. The local replica is a direct call; remote ones go through
 * `PeerClient`, batched per peer. The order replicas are asked in is pure
 * (`writeFanout`, `readFanout`), as is the counting of their answers
 * (`quorum`).
 */
export class Replication extends Effect.Service<Replication>()("cache/replication/Coordinator", {
  scoped: Effect.gen(function*() {
    const config = yield* NodeConfig
    const coordination = yield* makeCoordination({
      config,
      ring: yield* Ring,
      local: yield* LocalReplica,
      peers: yield* PeerClient,
      hlc: yield* Hlc,
      metrics: yield* Metrics,
      tracing: (yield* Telemetry).tracing,
      self: selfAddress(config)
    })
    const runFork = Runtime.runFork(yield* Effect.runtime<never>())
    const writes = makeWritePath(coordination, runFork)
    const { read, readNow } = makeReadPath(coordination, writes, yield* makeSpeculation(config.speculativeReadDelay), runFork)
    return { read, readNow, write: writes.write, writeNow: writes.writeNow } as const
  })
}) {}
