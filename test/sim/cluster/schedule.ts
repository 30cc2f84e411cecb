import { unavailableArcs } from "../../../src/placement/movement.js"
import { SimCluster, type SimNode } from "./SimCluster.js"

/** How a simulated run is shaped: sizes, fault mix and phases. */
export interface ScheduleOptions {
  readonly nodes: number
  readonly spares: number
  /** The faulty phase; afterwards everything heals and the run goes on quietly for `quietMs`. */
  readonly faultyMs: number
  readonly quietMs: number
  /** Mean pause between two faults. */
  readonly faultEveryMs: number
  /** Longest a partition or a pause lasts (longer than DEAD_NODE_TIMEOUT, so removals happen mid-fault). */
  readonly maxFaultMs: number
  /**
   * Whether an operator removes crashed members by force. A forced removal
   * may lose writes by design (S4), so runs that check linearizability
   * leave it out.
   */
  readonly forcedRemovals: boolean
}

export const DEFAULT_SCHEDULE: ScheduleOptions = {
  nodes: 5,
  spares: 2,
  faultyMs: 12_000,
  quietMs: 20_000,
  faultEveryMs: 900,
  maxFaultMs: 3_000,
  forcedRemovals: true
}

/** What happened to whom, for a failing seed's report. */
export type Log = Array<string>

/**
 * Drives a cluster through a seeded schedule: the first `nodes` start
 * together (formation under fire), then faults come one after another,
 * overlapping: partitions (halves, one cut off), crashes (some restarted
 * with an empty memory), pauses, spare nodes joining, members leaving, and
 * an operator removing a crashed member by force. Then everything heals.
 */
export const runSchedule = (cluster: SimCluster, options: ScheduleOptions, log: Log, perStep?: () => void): void => {
  const { rng, agenda } = cluster
  const addresses = Array.from({ length: options.nodes + options.spares }, (_, i) => SimCluster.address(i + 1))
  const initial = addresses.slice(0, options.nodes)
  const spares = addresses.slice(options.nodes)
  for (const address of initial) cluster.start(address, initial)
  const note = (what: string) => log.push(`${agenda.nowMs.toFixed(0)} ${what}`)
  const running = () => [...cluster.nodes.values()].filter((n) => n.host.up)
  const later = (ms: number, action: () => void) => agenda.after(ms, action)
  const faultMs = () => rng.int(100, options.maxFaultMs)
  /** A spare names two nodes that run now (a joiner whose every seed is gone cannot join, rightly). */
  const seedsOfSpare = () => {
    const members = running().filter((n) => n.core.status === "member").map((n) => n.address)
    return rng.shuffle(members.length > 0 ? members : initial).slice(0, 2)
  }

  const faults: Array<() => void> = [
    () => {
      const order = rng.shuffle(running().map((n) => n.address))
      const cut = rng.int(1, Math.max(2, order.length))
      cluster.network.partition([order.slice(0, cut), order.slice(cut)])
      note(`partition ${order.slice(0, cut).join(",")} | ${order.slice(cut).join(",")}`)
      later(faultMs(), () => {
        cluster.network.heal()
        note("heal")
      })
    },
    () => {
      const victim = rng.pick(running())
      if (victim === undefined) return
      victim.host.paused = true
      note(`pause ${victim.address}`)
      later(faultMs(), () => {
        cluster.resume(victim.address)
        note(`resume ${victim.address}`)
      })
    },
    () => {
      const victim = rng.pick(running())
      if (victim === undefined) return
      // A seed process that has a configuration stays somewhere: were every seed restarted empty,
      // the seeds would rightly form a new cluster (nothing would remember the old one).
      const otherSeeds = running().filter((n) => n !== victim && initial.includes(n.address) && n.core.current !== undefined)
      if (initial.includes(victim.address) && otherSeeds.length === 0) return
      cluster.crash(victim.address)
      note(`crash ${victim.address}`)
      if (rng.chance(0.6)) {
        later(faultMs(), () => {
          // Restarted as the operator started it: the same seeds.
          cluster.start(victim.address, initial.includes(victim.address) ? initial : seedsOfSpare())
          note(`restart ${victim.address} empty`)
        })
      }
    },
    () => {
      const spare = spares.find((address) => !cluster.nodes.get(address)?.host.up)
      if (spare === undefined) return
      cluster.start(spare, seedsOfSpare())
      note(`join ${spare}`)
    },
    () => {
      const members = running().filter((n) => n.core.status === "member")
      const leaver = rng.pick(members)
      if (leaver === undefined || members.length <= 2) return
      leaver.core.requestLeave()
      note(`leave ${leaver.address}`)
      const exitOnceLeft = () => {
        if (!leaver.host.up) return
        if (leaver.core.status === "left") {
          cluster.crash(leaver.address)
          note(`${leaver.address} left and exited`)
        } else {
          later(100, exitOnceLeft)
        }
      }
      exitOnceLeft()
    },
    () => {
      const gone = [...cluster.nodes.values()].find((n) => !n.host.up)
      const operator = rng.pick(running())
      if (!options.forcedRemovals || gone === undefined || operator === undefined) return
      operator.core.requestRemoval(gone.address, true)
      note(`operator at ${operator.address} removes ${gone.address} by force`)
    }
  ]

  for (let at = options.faultEveryMs; at < options.faultyMs; at += rng.int(options.faultEveryMs / 2, options.faultEveryMs * 1.5)) {
    agenda.at(at, () => rng.pick(faults)())
  }
  agenda.at(options.faultyMs, () => {
    cluster.network.heal()
    for (const node of cluster.nodes.values()) cluster.resume(node.address)
    note("heal all")
  })
  if (perStep === undefined) {
    cluster.run(options.faultyMs + options.quietMs)
  } else {
    for (let t = 0; t < options.faultyMs + options.quietMs; t += 100) {
      cluster.run(t)
      perStep()
    }
  }
}

/**
 * After the quiet phase: if the latest configuration has a live majority of
 * its members, every live node has installed it, it is stable, and every
 * live node that is not leaving is a member. Returns what is wrong, or
 * undefined.
 */
export const convergenceProblem = (cluster: SimCluster): string | undefined => {
  const live = cluster.live()
  if (live.length === 0) return undefined
  const latest = live.reduce<SimNode>((a, b) => (b.core.epoch > a.core.epoch ? b : a), live[0]!)
  const config = latest.core.current?.config
  if (config === undefined) return "no configuration was formed"
  const isLive = (m: { address: string; generation: number }) =>
    live.some((n) => n.identity.address === m.address && n.identity.generation === m.generation)
  const liveMembers = config.members.filter(isLive)
  if (liveMembers.length < Math.floor(config.members.length / 2) + 1) return undefined // no majority: nothing can move, and that is right
  // A replica set without a live majority blocks movement through it (S4), rightly.
  const view = latest.core.current!
  if (unavailableArcs(view, (address) => { const m = view.identityOf(address); return m !== undefined && isLive(m) }).length > 0) return undefined
  const behind = live.filter((n) => n.core.epoch !== config.epoch)
  if (behind.length > 0) return `not converged on epoch ${config.epoch}: ${behind.map((n) => `${n.address}@${n.core.epoch}`).join(", ")}`
  if (config.phase !== "stable") return `epoch ${config.epoch} is ${config.phase}; plan: ${JSON.stringify(latest.core.plan)}`
  const outside = live.filter((n) => n.core.status === "joining")
  const deadMembers = config.members.length - liveMembers.length
  if (outside.length > 0 && deadMembers === 0) return `live nodes still joining: ${outside.map((n) => n.address).join(", ")}`
  return undefined
}
