import { writeFileSync } from "node:fs"
import type { NodeProcess } from "../../../testkit/nodeProcess.js"
import { block, type Host, unblock } from "./netns.js"

/** The running cluster a nemesis acts on. */
export interface FaultCluster {
  /** Every host, spares (started only by membership nemeses) last. */
  readonly hosts: ReadonlyArray<Host>
  /** The node process of each host; undefined for a spare never started. */
  readonly nodes: Array<NodeProcess | undefined>
  /** Hosts whose node is gone for good or for now (killed, left, or a spare not running). */
  readonly crashed: Set<number>
  /** Starts a fresh node process (empty store) on host i, joining through the others; false while its last one still runs. */
  readonly start: (i: number) => boolean
  /** Per node, the libfaketime offset file its wall clock follows (clock-skew runs only). */
  readonly clockFiles: ReadonlyArray<string> | undefined
}

/** A fault with a start and an end that heals it; `start` says what it did. */
export interface Nemesis {
  readonly name: string
  readonly start: (cluster: FaultCluster, random: () => number) => string
  readonly stop: (cluster: FaultCluster) => void
}

const shuffled = <A>(items: ReadonlyArray<A>, random: () => number): Array<A> => {
  const out = [...items]
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    ;[out[i], out[j]] = [out[j]!, out[i]!]
  }
  return out
}

const healAll = (cluster: FaultCluster) => cluster.hosts.forEach(unblock)

/** Cuts every link between the two groups (both directions). */
const split = (left: ReadonlyArray<Host>, right: ReadonlyArray<Host>) => {
  for (const host of left) block(host, right)
  for (const host of right) block(host, left)
}

const names = (hosts: ReadonlyArray<Host>) => hosts.map((h) => h.ip).join(",")

const live = (cluster: FaultCluster) => cluster.hosts.map((_, i) => i).filter((i) => !cluster.crashed.has(i))
const pick = <A>(items: ReadonlyArray<A>, random: () => number): A => items[Math.floor(random() * items.length)]!
const nodeOf = (cluster: FaultCluster, i: number) => cluster.nodes[i]!

/** Spares: hosts beyond the cluster's first members, started by the join nemesis. */
const spares = (cluster: FaultCluster) => cluster.hosts.map((_, i) => i).filter((i) => i >= cluster.hosts.length - SPARES)

/** Hosts the runner keeps for joins. */
export const SPARES = 1

/** Membership nemeses: what each one did, so that `stop` can undo it. */
const membershipAction = new WeakMap<FaultCluster, () => void>()

export const nemeses: Record<string, Nemesis> = {
  /** No fault: the baseline. */
  none: { name: "none", start: () => "nothing", stop: () => undefined },

  /** Random halves: a minority side and a majority side. */
  "partition-halves": {
    name: "partition-halves",
    start: (cluster, random) => {
      const order = shuffled(cluster.hosts, random)
      const cut = 1 + Math.floor(random() * Math.floor(order.length / 2))
      split(order.slice(0, cut), order.slice(cut))
      return `${names(order.slice(0, cut))} | ${names(order.slice(cut))}`
    },
    stop: healAll
  },

  /** One node cut off from all others. */
  "isolate-one": {
    name: "isolate-one",
    start: (cluster, random) => {
      const order = shuffled(cluster.hosts, random)
      split(order.slice(0, 1), order.slice(1))
      return `${order[0]!.ip} alone`
    },
    stop: healAll
  },

  /** A majority "bridge": one node sees both sides, the sides do not see each other. */
  bridge: {
    name: "bridge",
    start: (cluster, random) => {
      const [middle, ...rest] = shuffled(cluster.hosts, random)
      const half = Math.ceil(rest.length / 2)
      split(rest.slice(0, half), rest.slice(half))
      return `${names(rest.slice(0, half))} | ${names(rest.slice(half))} bridged by ${middle!.ip}`
    },
    stop: healAll
  },

  /** SIGSTOP one node, SIGCONT at the end: a process that freezes (GC pause, VM steal). */
  pause: {
    name: "pause",
    start: (cluster, random) => {
      const i = pick(live(cluster), random)
      nodeOf(cluster, i).child.kill("SIGSTOP")
      pausedNode.set(cluster, i)
      return `${cluster.hosts[i]!.ip} paused`
    },
    stop: (cluster) => {
      const i = pausedNode.get(cluster)
      if (i !== undefined) nodeOf(cluster, i).child.kill("SIGCONT")
      pausedNode.delete(cluster)
    }
  },

  /** One node's wall clock jumps 2-10 s ahead or behind (monotonic time is untouched), then back. */
  "clock-skew": {
    name: "clock-skew",
    start: (cluster, random) => {
      const i = pick(live(cluster), random)
      const offset = `${random() < 0.5 ? "-" : "+"}${2 + Math.floor(random() * 9)}s`
      setClockOffset(cluster, i, offset)
      skewedNode.set(cluster, i)
      return `${cluster.hosts[i]!.ip} clock ${offset}`
    },
    stop: (cluster) => {
      const i = skewedNode.get(cluster)
      if (i !== undefined) setClockOffset(cluster, i, "+0")
      skewedNode.delete(cluster)
    }
  },

  /**
   * SIGKILL one node, once per run, and never restart it: after
   * DEAD_NODE_TIMEOUT the others remove it and re-replicate its ranges (with
   * three nodes a second kill would end every quorum).
   */
  "kill-for-good": {
    name: "kill-for-good",
    start: (cluster, random) => {
      const members = live(cluster).filter((i) => !spares(cluster).includes(i))
      if (members.length < cluster.hosts.length - SPARES) return "nothing (one node already killed)"
      const i = pick(members, random)
      nodeOf(cluster, i).child.kill("SIGKILL")
      cluster.crashed.add(i)
      return `${cluster.hosts[i]!.ip} killed for good`
    },
    stop: () => undefined
  },

  /** SIGKILL one node; at the heal it starts again with an empty store and must pull before it votes. */
  "kill-restart": {
    name: "kill-restart",
    start: (cluster, random) => killRestart(cluster, random),
    stop: (cluster) => undo(cluster)
  },

  /** A spare node joins (pulling its ranges while it is pending); at the heal it leaves gracefully (SIGTERM). */
  "join-leave": {
    name: "join-leave",
    start: (cluster) => joinLeave(cluster),
    stop: (cluster) => undo(cluster)
  },

  /**
   * Overlapping faults: one node cut off from all others and, meanwhile,
   * another killed; at the heal the cut is undone and the killed node starts
   * again with an empty store.
   */
  "kill-while-cut": {
    name: "kill-while-cut",
    start: (cluster, random) => {
      const members = shuffled(live(cluster).filter((i) => !spares(cluster).includes(i)), random)
      const [cut, killed] = members
      if (cut === undefined || killed === undefined) return "nothing (too few nodes)"
      const others = cluster.hosts.filter((_, i) => i !== cut)
      split([cluster.hosts[cut]!], others)
      nodeOf(cluster, killed).child.kill("SIGKILL")
      cluster.crashed.add(killed)
      membershipAction.set(cluster, () => {
        healAll(cluster)
        if (cluster.start(killed)) cluster.crashed.delete(killed)
      })
      return `${cluster.hosts[cut]!.ip} alone, ${cluster.hosts[killed]!.ip} killed (restarted empty at the heal)`
    },
    stop: (cluster) => undo(cluster)
  },

  /** Membership changes mixed with partitions: each period one of kill-restart, join-leave, partition-halves, isolate-one. */
  "membership-mix": {
    name: "membership-mix",
    start: (cluster, random) => {
      const choice = pick(["kill-restart", "join-leave", "partition-halves", "isolate-one"] as const, random)
      if (choice === "kill-restart") return `kill-restart: ${killRestart(cluster, random)}`
      if (choice === "join-leave") return `join-leave: ${joinLeave(cluster)}`
      const fault = nemeses[choice]!
      membershipAction.set(cluster, () => fault.stop(cluster))
      return `${choice}: ${fault.start(cluster, random)}`
    },
    stop: (cluster) => undo(cluster)
  }
}

const undo = (cluster: FaultCluster) => {
  membershipAction.get(cluster)?.()
  membershipAction.delete(cluster)
}

const killRestart = (cluster: FaultCluster, random: () => number) => {
  const members = live(cluster).filter((i) => !spares(cluster).includes(i))
  const i = pick(members, random)
  nodeOf(cluster, i).child.kill("SIGKILL")
  cluster.crashed.add(i)
  membershipAction.set(cluster, () => {
    if (cluster.start(i)) cluster.crashed.delete(i)
  })
  return `${cluster.hosts[i]!.ip} killed, restarted empty at the heal`
}

const joinLeave = (cluster: FaultCluster) => {
  const i = spares(cluster).find((spare) => cluster.crashed.has(spare))
  if (i === undefined) return "nothing (no spare)"
  if (!cluster.start(i)) return "nothing (the spare is still leaving)"
  cluster.crashed.delete(i)
  membershipAction.set(cluster, () => {
    nodeOf(cluster, i).child.kill("SIGTERM")
    cluster.crashed.add(i)
  })
  return `${cluster.hosts[i]!.ip} joined, leaves at the heal`
}

const pausedNode = new WeakMap<FaultCluster, number>()
const skewedNode = new WeakMap<FaultCluster, number>()

/** Moves one node's wall clock by `offset` ("+0" resets); libfaketime re-reads the file every second. */
const setClockOffset = (cluster: FaultCluster, node: number, offset: string) => {
  const file = cluster.clockFiles?.[node]
  if (file === undefined) throw new Error("clock skew needs nodes started with libfaketime")
  writeFileSync(file, `${offset}\n`)
}
