import { writeFileSync } from "node:fs"
import type { NodeProcess } from "../../support/nodeProcess.js"
import { block, type Host, unblock } from "./netns.js"

/** The running cluster a nemesis acts on. */
export interface FaultCluster {
  readonly hosts: ReadonlyArray<Host>
  readonly nodes: Array<NodeProcess>
  /** Nodes killed for good (no restart until the data-movement work). */
  readonly crashed: Set<number>
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

const live = (cluster: FaultCluster) => cluster.nodes.map((_, i) => i).filter((i) => !cluster.crashed.has(i))

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
      const candidates = live(cluster)
      const i = candidates[Math.floor(random() * candidates.length)]!
      cluster.nodes[i]!.child.kill("SIGSTOP")
      pausedNode.set(cluster, i)
      return `${cluster.hosts[i]!.ip} paused`
    },
    stop: (cluster) => {
      const i = pausedNode.get(cluster)
      if (i !== undefined) cluster.nodes[i]!.child.kill("SIGCONT")
      pausedNode.delete(cluster)
    }
  },

  /** One node's wall clock jumps 2-10 s ahead or behind (monotonic time is untouched), then back. */
  "clock-skew": {
    name: "clock-skew",
    start: (cluster, random) => {
      const candidates = live(cluster)
      const i = candidates[Math.floor(random() * candidates.length)]!
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

  /** SIGKILL one node, once per run (with three nodes a second crash would end every quorum). */
  crash: {
    name: "crash",
    start: (cluster, random) => {
      if (cluster.crashed.size > 0) return "nothing (one node already crashed)"
      const candidates = live(cluster)
      const i = candidates[Math.floor(random() * candidates.length)]!
      cluster.nodes[i]!.child.kill("SIGKILL")
      cluster.crashed.add(i)
      return `${cluster.hosts[i]!.ip} killed`
    },
    stop: () => undefined
  }
}

const pausedNode = new WeakMap<FaultCluster, number>()
const skewedNode = new WeakMap<FaultCluster, number>()

/** Moves one node's wall clock by `offset` ("+0" resets); libfaketime re-reads the file every second. */
const setClockOffset = (cluster: FaultCluster, node: number, offset: string) => {
  const file = cluster.clockFiles?.[node]
  if (file === undefined) throw new Error("clock skew needs nodes started with libfaketime")
  writeFileSync(file, `${offset}\n`)
}
