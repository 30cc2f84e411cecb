import { ConfigView, type RingSettings } from "../../../src/placement/ConfigView.js"
import { pullPlan } from "../../../src/placement/movement.js"
import type { Liveness } from "../../../src/membership/liveness.js"
import { type Outbound, PlacementCore } from "../../../src/placement/PlacementCore.js"
import type { MemberId, PlacementResponse, RingConfig } from "../../../src/protocol/placement.js"
import type { PulledRecord } from "../../../src/protocol/movement.js"
import type { HashRange } from "../../../src/ring/hashRange.js"
import { confirmsTombstone } from "../../../src/antientropy/confirmation.js"
import * as V from "../../../src/clock/version.js"
import type { ReplicaReply } from "../../../src/protocol/replica.js"
import type { BucketFloors } from "../../../src/store/forgetting.js"
import { DataLayer } from "./DataLayer.js"
import { Agenda } from "./events.js"
import { type Host, type NetworkOptions, SimNetwork } from "./network.js"
import { Rng } from "../../../testkit/random.js"

/** Timers of the simulated nodes, in simulated milliseconds. */
export interface SimTimers {
  readonly tickMs: number
  readonly retryMs: number
  readonly proposalTimeoutMs: number
  /** How long a member must be unreachable before the failure detector calls it dead. */
  readonly suspicionMs: number
  readonly deadNodeTimeoutMs: number
  readonly syncTimeoutMs: number
  /** How long a tombstone is kept at least (TOMBSTONE_GRACE); collection passes run this often too. */
  readonly tombstoneGraceMs: number
}

export const DEFAULT_TIMERS: SimTimers = {
  tickMs: 50,
  retryMs: 200,
  proposalTimeoutMs: 600,
  suspicionMs: 400,
  deadNodeTimeoutMs: 800,
  syncTimeoutMs: 20_000,
  tombstoneGraceMs: 300
}

/** A simulated node: the real placement core, a host on the simulated network, and an oracle failure detector. */
export class SimNode {
  readonly host: Host = { up: true, paused: false, inbox: [] }
  readonly core: PlacementCore
  /** Since when each address has looked unreachable from here. */
  private readonly unreachableSince = new Map<string, number>()
  /** The node's data, when the run simulates the data path too. */
  readonly data: DataLayer | undefined

  constructor(readonly cluster: SimCluster, readonly address: string, generation: number, seeds: ReadonlyArray<string>) {
    this.core = new PlacementCore({ address, generation }, {
      seeds: [...new Set([address, ...seeds])].sort(),
      ring: cluster.ring,
      deadNodeTimeoutMs: cluster.timers.deadNodeTimeoutMs,
      syncTimeoutMs: cluster.timers.syncTimeoutMs,
      retryMs: cluster.timers.retryMs,
      proposalTimeoutMs: cluster.timers.proposalTimeoutMs,
      random: cluster.rng.next,
      viewOf: cluster.viewOf
    })
    this.data = cluster.withData
      ? new DataLayer(this, cluster.rng.int(-2000, 2000), cluster.forgetting && cluster.rng.chance(0.4))
      : undefined
    this.core.onInstall = (view) => {
      cluster.recordInstall(this, view.config)
      this.data?.release(view)
      this.startPulls(view)
    }
  }

  get identity(): MemberId {
    return this.core.identity
  }

  /** The failure detector: right about who answers, after a delay, and sometimes wrong when the run asks for noise. */
  readonly liveness: Liveness = {
    reachable: (address) => this.deadForMs(address) === undefined,
    deadForMs: (address) => this.deadForMs(address)
  }

  private deadForMs(address: string): number | undefined {
    const now = this.cluster.agenda.nowMs
    const other = this.cluster.nodes.get(address)
    const expected = this.core.current?.identityOf(address)
    const answers = other !== undefined && other.host.up && !other.host.paused && this.cluster.network.canReach(this.address, address) &&
      (expected === undefined || expected.generation === other.identity.generation)
    // (No draw at all without noise, so that looking at a run does not change it.)
    if (this.cluster.detectorNoise > 0 && this.cluster.rng.chance(this.cluster.detectorNoise)) {
      return answers ? this.cluster.timers.deadNodeTimeoutMs * 2 : undefined
    }
    if (answers) {
      this.unreachableSince.delete(address)
      return undefined
    }
    let since = this.unreachableSince.get(address)
    if (since === undefined) this.unreachableSince.set(address, since = now)
    const silent = now - since
    return silent >= this.cluster.timers.suspicionMs ? silent - this.cluster.timers.suspicionMs : undefined
  }

  tick(): void {
    if (!this.host.up || this.host.paused) return
    this.send(this.core.tick(this.cluster.agenda.nowMs, this.liveness))
  }

  send(out: ReadonlyArray<Outbound>): void {
    for (const { to, request } of out) {
      this.cluster.network.call<PlacementResponse>(
        this.address,
        to,
        () => this.cluster.nodes.get(to)?.core.handle(request, this.cluster.agenda.nowMs),
        (answer) => this.send(this.core.onReply(to, request, answer, this.cluster.agenda.nowMs))
      )
    }
  }

  /**
   * Pulls as the node does: from each task's sources, at the same epoch (a
   * source behind learns the configuration from the puller first; one ahead
   * makes the puller learn). Marks itself synced once every task has enough
   * answers. The data layer replaces what a source answers with records.
   */
  private startPulls(view: ConfigView): void {
    const tasks = pullPlan(view, this.identity)
    if (tasks.length === 0) return
    if (this.cluster.bugs.skipPulls === true) return this.core.markSynced(view.epoch)
    const answered = tasks.map((task) => new Set<string>(task.sources.includes(this.address) ? [this.address] : []))
    const covered = () => tasks.every((task, i) => answered[i]!.size >= task.needed)
    // As `DataMovement` does: once covered, drop what one source's floors say another's records should not keep.
    const done = () => {
      if (!covered()) return false
      this.data?.dropForgotten(tasks.flatMap((task) => task.ranges))
      return true
    }
    const attempt = () => {
      if (this.core.current !== view || !this.host.up) return
      if (done()) return this.core.markSynced(view.epoch)
      tasks.forEach((task, i) => {
        for (const source of task.sources) {
          if (answered[i]!.has(source)) continue
          this.cluster.network.call<PullAnswer>(
            this.address,
            source,
            () => this.cluster.nodes.get(source)?.servePull(view.config, task.ranges),
            (answer) => {
              if (answer === undefined) return
              if (answer.config !== undefined) this.core.install(answer.config, this.cluster.agenda.nowMs)
              if (answer.ok) this.data?.apply(answer.records, answer.floors)
              if (answer.ok && this.core.current === view) answered[i]!.add(source)
              if (done() && this.core.current === view) this.core.markSynced(view.epoch)
            }
          )
        }
      })
      this.cluster.agenda.after(this.cluster.timers.retryMs, attempt)
    }
    attempt()
  }

  /** A source answers a pull only at the puller's epoch: it catches up first when behind. */
  servePull(config: RingConfig, ranges: ReadonlyArray<HashRange>): PullAnswer {
    if (this.core.epoch < config.epoch) this.core.install(config, this.cluster.agenda.nowMs)
    const mine = this.core.current
    if (mine === undefined || mine.epoch > config.epoch) return { config: mine?.config, ok: false, records: [], floors: [] }
    return { config: undefined, ok: true, records: this.data?.records(ranges) ?? [], floors: this.data?.floors() ?? [] }
  }

  /**
   * The tombstone collector's rule (`TombstoneCollector`): on a stable ring
   * this node is a member of, tombstones past the grace period go again to
   * their keys' other replicas, and one that every replica acknowledged at
   * that same configuration is collected. With the `dropTombstonesByTime`
   * bug, tombstones are dropped after the grace period alone, leaving no floor.
   */
  collectTombstones(): void {
    const data = this.data
    const view = this.core.current
    if (data === undefined || !this.host.up || this.host.paused || view === undefined) return
    const candidates = data.graceElapsed(this.cluster.timers.tombstoneGraceMs)
    if (this.cluster.bugs.dropTombstonesByTime === true) {
      for (const [key, tombstone] of candidates) data.drop(key, tombstone)
      return
    }
    if (!view.stable || !view.isMember(this.identity)) return
    for (const [key, tombstone] of candidates) {
      const others = view.readReplicas(this.cluster.ring.hash(key)).filter((a) => a !== this.address)
      let acks = 0
      const confirmed = () => {
        if (this.core.current === view) data.collect(key, tombstone)
      }
      if (others.length === 0) confirmed()
      const write = { version: V.copy(tombstone), value: undefined, expiresAtMs: 0 }
      for (const to of others) {
        this.cluster.network.call<ReplicaReply>(this.address, to, () => {
          const target = this.cluster.nodes.get(to)
          return target?.host.up === true ? target.data?.replica({ key, write, epoch: view.epoch }) : undefined
        }, (reply) => {
          if (reply !== undefined && confirmsTombstone(reply) && ++acks === others.length) confirmed()
        })
      }
    }
  }
}

/** What a pull gets: records at the puller's epoch, or the source's newer configuration. */
interface PullAnswer {
  readonly config: RingConfig | undefined
  readonly ok: boolean
  readonly records: ReadonlyArray<PulledRecord>
  readonly floors: ReadonlyArray<BucketFloors>
}

/** Rules the simulator can break on purpose, to show that its checks catch a broken protocol. */
export interface SimBugs {
  /** Members report their pulls done without pulling (breaks S3). */
  readonly skipPulls?: boolean
  /** Replicas answer operations of any epoch (breaks S2). */
  readonly noFencing?: boolean
  /** Tombstones are dropped after the grace period, held by every replica or not, leaving no floor (breaks S5). */
  readonly dropTombstonesByTime?: boolean
}

export interface SimOptions {
  /** Simulate the data path too: stores, replicas, pulls (for linearizability checks). */
  readonly withData?: boolean
  /** With data: some nodes hold two records only (eviction), and tombstones are collected (S5). */
  readonly forgetting?: boolean
  readonly bugs?: SimBugs
  readonly seed: number
  readonly network: NetworkOptions
  readonly timers?: SimTimers
  readonly ring?: Omit<RingSettings, "hash">
  /** Chance that one failure-detector answer is wrong. */
  readonly detectorNoise?: number
}

const address = (i: number) => `10.0.0.${i}:8080`

/** Simple 32-bit string hash for the simulated rings (the real one is xxHash; placement only needs some hash). */
const fnv = (text: string): number => {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193)
  return h >>> 0
}

/**
 * A simulated cluster of placement cores over a faulty network, everything
 * drawn from one seed. Records every configuration any node installs and
 * flags two different configurations for one epoch (S1).
 */
export class SimCluster {
  readonly agenda = new Agenda()
  readonly rng: Rng
  readonly network: SimNetwork
  readonly timers: SimTimers
  readonly ring: RingSettings
  readonly detectorNoise: number
  readonly withData: boolean
  readonly forgetting: boolean
  readonly bugs: SimBugs
  /** Keys some replica evicted or expired (they may vanish; an older value must still never return). */
  readonly forgottenKeys = new Set<string>()
  readonly nodes = new Map<string, SimNode>()
  /** The configuration each epoch got, as first installed anywhere. */
  readonly decided = new Map<number, string>()
  readonly violations: Array<string> = []
  installs = 0
  private generations = 0
  private readonly views = new Map<string, ConfigView>()

  /** One immutable view per configuration, shared by every simulated node (and its memoized pull plans). */
  readonly viewOf = (config: RingConfig): ConfigView => {
    const key = JSON.stringify(config)
    let view = this.views.get(key)
    if (view === undefined) this.views.set(key, view = ConfigView.build(config, this.ring))
    return view
  }

  constructor(options: SimOptions) {
    this.rng = new Rng(options.seed)
    this.network = new SimNetwork(this.agenda, this.rng.next, options.network)
    this.timers = options.timers ?? DEFAULT_TIMERS
    this.ring = { vnodes: options.ring?.vnodes ?? 16, replicas: options.ring?.replicas ?? 3, hash: fnv }
    this.detectorNoise = options.detectorNoise ?? 0
    this.withData = options.withData ?? false
    this.forgetting = options.forgetting ?? false
    this.bugs = options.bugs ?? {}
  }

  static address = address

  /** Starts a node (a new process: new generation, empty memory) at `addr` with these seeds. */
  start(addr: string, seeds: ReadonlyArray<string>): SimNode {
    const node = new SimNode(this, addr, ++this.generations, seeds)
    this.nodes.set(addr, node)
    this.network.hosts.set(addr, node.host)
    const loop = () => {
      if (this.nodes.get(addr) !== node || !node.host.up) return
      node.tick()
      this.agenda.after(this.timers.tickMs * (0.5 + this.rng.next()), loop)
    }
    this.agenda.after(this.rng.next() * this.timers.tickMs, loop)
    if (this.forgetting) {
      const collecting = () => {
        if (this.nodes.get(addr) !== node || !node.host.up) return
        node.collectTombstones()
        this.agenda.after(this.timers.tombstoneGraceMs, collecting)
      }
      this.agenda.after(this.timers.tombstoneGraceMs, collecting)
    }
    return node
  }

  crash(addr: string): void {
    const node = this.nodes.get(addr)
    if (node === undefined) return
    node.host.up = false
    node.host.inbox.length = 0
  }

  pause(addr: string): void {
    const node = this.nodes.get(addr)
    if (node !== undefined) node.host.paused = true
  }

  resume(addr: string): void {
    const node = this.nodes.get(addr)
    if (node === undefined || !node.host.paused) return
    node.host.paused = false
    for (const run of node.host.inbox.splice(0)) run()
  }

  recordInstall(node: SimNode, config: RingConfig): void {
    this.installs++
    const text = JSON.stringify({ ...config })
    const earlier = this.decided.get(config.epoch)
    if (earlier === undefined) this.decided.set(config.epoch, text)
    else if (earlier !== text) this.violations.push(`S1: ${node.address} installed epoch ${config.epoch} as ${text}, elsewhere ${earlier}`)
  }

  /** Live nodes (up, not paused). */
  live(): Array<SimNode> {
    return [...this.nodes.values()].filter((n) => n.host.up && !n.host.paused)
  }

  run(untilMs: number): void {
    this.agenda.runUntil(untilMs)
  }
}
