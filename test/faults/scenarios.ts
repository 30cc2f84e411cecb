import type { FaultRunOptions } from "./harness/runner.js"

/**
 * One fault run of the matrix. Every run starts its workload as the node
 * processes start (formation is under test too) and shrinks the membership
 * timers (DEAD_NODE_TIMEOUT 2 s, RPC_TIMEOUT 1 s) so that its long faults
 * outlast them: a member is declared dead about 2 s into a fault and is due
 * for removal 2 s later.
 */
export type Scenario = Omit<FaultRunOptions, "seed"> & { readonly name: string }

/** Faults that outlast every membership timer: suspicion, DEAD_NODE_TIMEOUT, removal. */
const LONG_FAULT = { faultMs: 8_000, quietMs: 4_000, durationMs: 30_000 }
const SHORT_FAULT = { faultMs: 3_000, quietMs: 2_000, durationMs: 20_000 }

const quorum = (name: string, nemesis: string, nodes: number, timing: Partial<FaultRunOptions> = LONG_FAULT): Scenario => ({
  name: `${name}-n${nodes}`,
  nemesis,
  nodes,
  consistency: "QUORUM",
  trafficFromStart: true,
  ...timing
})

/**
 * Forgetting (S5): hundreds of keys with deletes, TOMBSTONE_GRACE of 0.3 s
 * (standing in for 300 s), so every fault outlasts it many times over.
 */
const FORGETTING = { keys: 300, env: { TOMBSTONE_GRACE: "0.3", EXPIRY_SWEEP_INTERVAL: "0.1" } }
const forgetting = (name: string, nemesis: string, nodes: number, more: Partial<FaultRunOptions> = {}): Scenario =>
  quorum(`forget-${name}`, nemesis, nodes, { faultMs: 8_000, quietMs: 4_000, durationMs: 24_000, ...FORGETTING, ...more })

/** What CI runs: 3 and 5 nodes, every timer outlasted, within 15 minutes in all. */
export const CI_MATRIX: ReadonlyArray<Scenario> = [
  // As the harness found it: 30 keys, traffic as soon as every node answers.
  quorum("formation", "none", 5, { durationMs: 15_000, keys: 30 }),
  quorum("split-brain", "partition-halves", 5),
  quorum("partition-halves", "partition-halves", 3),
  quorum("isolate-one", "isolate-one", 5),
  quorum("bridge", "bridge", 5),
  quorum("pause", "pause", 5),
  quorum("kill-while-cut", "kill-while-cut", 5),
  quorum("kill-restart", "kill-restart", 3, { faultMs: 6_000, quietMs: 4_000, durationMs: 30_000 }),
  quorum("kill-for-good", "kill-for-good", 5),
  quorum("join-leave", "join-leave", 3, { faultMs: 6_000, quietMs: 4_000, durationMs: 30_000 }),
  quorum("membership-mix", "membership-mix", 5),
  quorum("clock-skew", "clock-skew", 3, SHORT_FAULT),
  // A replica cut off for eight times TOMBSTONE_GRACE but kept on the ring (DEAD_NODE_TIMEOUT 60 s), while deletes go on.
  forgetting("isolate", "isolate-one", 3, { env: { ...FORGETTING.env, DEAD_NODE_TIMEOUT: "60" } }),
  // Kills, joins, leaves and partitions past TOMBSTONE_GRACE: ranges move while tombstones are due.
  forgetting("membership", "membership-mix", 3, { keys: 100, quietMs: 3_000, durationMs: 40_000 }),
  // One node with room for 50 of 300 keys, TTLs of 1-3 s on half the writes: keys may vanish, old values never return.
  forgetting("small-node", "isolate-one", 3, { envFor: { 0: { CAPACITY: "50" } }, ttlSeconds: 3, mayVanish: true })
]

/** `pnpm test:faults:long`: 7 nodes, longer runs; run with several seeds (SEEDS=1,2,3). */
export const LONG_MATRIX: ReadonlyArray<Scenario> = [
  quorum("formation", "none", 7, { durationMs: 20_000, keys: 30 }),
  // Clients calling before the nodes even start: every call until the first ring is agreed must fail cleanly.
  quorum("formation-early", "none", 7, { durationMs: 45_000, keys: 30, trafficFromStart: "first" }),
  ...["partition-halves", "isolate-one", "bridge", "pause", "kill-while-cut", "kill-restart", "kill-for-good", "join-leave", "membership-mix"]
    .map((nemesis) => quorum(nemesis, nemesis, 7, { faultMs: 12_000, quietMs: 6_000, durationMs: 60_000 })),
  quorum("split-brain", "partition-halves", 5, { faultMs: 15_000, quietMs: 6_000, durationMs: 60_000 })
]

/** The check that the harness can see a real anomaly: ONE reads under a partition. */
export const ONE_UNDER_PARTITION: Scenario = {
  name: "one-isolate-one-n3",
  nemesis: "isolate-one",
  nodes: 3,
  consistency: "ONE",
  trafficFromStart: false,
  ...SHORT_FAULT
}
