import {
  type AcceptRequest,
  type AcceptResponse,
  type Ballot,
  type ChangeRequest,
  type ChangeResponse,
  type CommitRequest,
  type CommitResponse,
  type ConfigValue,
  type HelloRequest,
  type HelloResponse,
  type MemberId,
  memberKey,
  type PlacementRequest,
  type PlacementResponse,
  type PrepareRequest,
  type PrepareResponse,
  type RingConfig,
  sameMember
} from "../protocol/placement.js"
import type { Liveness } from "../membership/liveness.js"
import { ConfigView, majority, type RingSettings } from "./ConfigView.js"
import { configProblem } from "../protocol/check.js"
import { barrierHolds } from "./movement.js"
import { AcceptorState, ProposerRound, type RoundStep } from "./paxos.js"
import { plan, type Plan, stableValue } from "./planner.js"

/** What the core needs to know about time, peers and the failure detector. */
export interface CoreSettings {
  /** This node's seeds, its own address included: sorted, without repeats. */
  readonly seeds: ReadonlyArray<string>
  readonly ring: RingSettings
  readonly deadNodeTimeoutMs: number
  readonly syncTimeoutMs: number
  /** How often requests are repeated (hello while forming, join, leave, synced reports, barrier polls). */
  readonly retryMs: number
  /** How long a Paxos attempt may take before it is abandoned and retried with a higher ballot. */
  readonly proposalTimeoutMs: number
  readonly random: () => number
  /**
   * Builds the view of an agreed configuration (default: `ConfigView.build`).
   * Views are immutable, so a simulator of many nodes in one process shares
   * one per configuration.
   */
  readonly viewOf?: (config: RingConfig) => ConfigView
}

/** A request the core wants sent; its answer (or undefined after a failure or timeout) goes back to `onReply`. */
export interface Outbound {
  readonly to: string
  readonly request: PlacementRequest
}

/** Where this node stands. */
export type CoreStatus =
  | "forming" // no configuration yet: waiting for every seed to answer
  | "joining" // knows the cluster, not a member yet
  | "member"
  | "leaving" // asked to leave, still a member until a configuration without it is agreed
  | "left" // a configuration without it is agreed

const HISTORY = 32
/** Share of retry periods in which a node asks a random peer for its configuration. */
const CATCH_UP_SHARE = 0.25
/** Joins and operator removals waiting at most (a hostile or buggy sender cannot grow them without bound). */
const MAX_PENDING = 64

const sortedEqual = (a: ReadonlyArray<string>, b: ReadonlyArray<string>) => a.length === b.length && a.every((x, i) => x === b[i])

/**
 * One node's part in ring agreement, as a plain synchronous state machine:
 * requests in (`handle`), requests out (`tick`, `onReply`), no I/O and no
 * clock of its own, so the seeded simulation drives exactly this code.
 *
 * - Formation: a node with seeds says hello to every seed; once all of them
 *   answer with the same seed list and no configuration, the lowest address
 *   proposes epoch 1 (all seeds, each with its generation) to acceptors that
 *   are every seed. Requiring every seed makes the first configuration safe
 *   even if a seed restarts with an empty memory mid-way.
 * - Epoch e + 1 is decided by single-decree Paxos among the members of epoch
 *   e, proposed by the leader (the lowest reachable member address, in this
 *   node's view; several leaders are safe, only slower).
 * - A decided configuration is committed to everyone concerned, learnt from
 *   any peer that has it (hello, Paxos answers, commits), and installed in
 *   epoch order (a newer one replaces an older one whole).
 */
export class PlacementCore {
  private view: ConfigView | undefined
  private installedAtMs = 0
  /** When this node last became a member: it judges others dead only on what it saw since. */
  private memberSinceMs = 0
  private readonly views: Array<ConfigView> = []
  private syncedEpoch = 0
  private acceptor = new AcceptorState(1)
  private round: ProposerRound | undefined
  private roundStartedMs = 0
  private retryAfterMs = 0
  private maxRound = 0
  private lastRetryMs = Number.NEGATIVE_INFINITY
  private leaving = false
  private lastPlan: Plan = { _tag: "Idle" }
  /** Something the leader plans on changed since it last planned. */
  private dirty = true

  private readonly seedAnswers = new Map<string, HelloResponse>()
  private readonly joiners = new Map<string, { member: MemberId; requestedMs: number; verified: boolean }>()
  private readonly leavers = new Map<string, MemberId>()
  private readonly removals = new Map<string, { member: MemberId; force: boolean }>()
  private readonly synced = new Map<string, number>()
  private readonly epochs = new Map<string, number>()
  private readonly pendingOut: Array<Outbound> = []

  /** Called with each configuration this node installs, in epoch order. */
  onInstall: ((view: ConfigView, previous: ConfigView | undefined) => void) | undefined

  constructor(private self: MemberId, readonly settings: CoreSettings) {
    if (settings.seeds.length === 1 && settings.seeds[0] === self.address) {
      this.install({ epoch: 1, ...stableValue([self]) }, 0)
    }
  }

  // ---- state, for the node and the admin API

  get identity(): MemberId {
    return this.self
  }

  get current(): ConfigView | undefined {
    return this.view
  }

  /** Installed configurations, oldest first (the last HISTORY). */
  get history(): ReadonlyArray<ConfigView> {
    return this.views
  }

  get epoch(): number {
    return this.view?.epoch ?? 0
  }

  get status(): CoreStatus {
    if (this.view === undefined) return "forming"
    if (this.view.isMember(this.self)) return this.leaving ? "leaving" : "member"
    if (this.view.participates(this.self)) return "leaving"
    return this.leaving ? "left" : "joining"
  }

  /** The epoch at which this node last finished pulling what it gained. */
  get syncedAt(): number {
    return this.syncedEpoch
  }

  /** What the leader last decided to do (for the admin API and logs). */
  get plan(): Plan {
    return this.lastPlan
  }

  /** Whether this node leads changes now, in its own view. */
  leads(liveness: Liveness): boolean {
    const view = this.view
    if (view === undefined || !view.isMember(this.self)) return false
    const leader = view.config.members.find((m) => sameMember(m, this.self) || liveness.reachable(m.address))
    return sameMember(leader, this.self)
  }

  // ---- local events

  /** Installs a configuration learnt from anywhere, if it is newer; true when it was. */
  install(config: RingConfig, nowMs: number): boolean {
    if (this.view !== undefined && config.epoch <= this.view.epoch) return false
    if (configProblem(config) !== undefined) return false
    const previous = this.view
    const view = this.settings.viewOf?.(config) ?? ConfigView.build(config, this.settings.ring)
    this.view = view
    this.installedAtMs = nowMs
    if (view.isMember(this.self) && previous?.isMember(this.self) !== true) this.memberSinceMs = nowMs
    this.views.push(view)
    if (this.views.length > HISTORY) this.views.shift()
    this.epochs.set(this.self.address, config.epoch)
    this.acceptor = new AcceptorState(config.epoch + 1)
    this.dirty = true
    if (this.round !== undefined && this.round.instance <= config.epoch) this.round = undefined
    for (const [address, joiner] of this.joiners) if (view.isMember(joiner.member)) this.joiners.delete(address)
    for (const [key, removal] of this.removals) if (!view.participates(removal.member)) this.removals.delete(key)
    for (const [key, member] of this.leavers) if (!view.participates(member)) this.leavers.delete(key)
    for (const key of this.synced.keys()) if (!view.config.members.some((m) => memberKey(m) === key)) this.synced.delete(key)
    this.onInstall?.(view, previous)
    return true
  }

  /** This node has pulled every range it gains in `epoch`. */
  markSynced(epoch: number): void {
    if (epoch <= this.syncedEpoch) return
    this.dirty = true
    this.syncedEpoch = epoch
    this.synced.set(memberKey(this.self), epoch)
    for (const to of this.otherMembers()) this.pendingOut.push(this.change(to, { kind: "synced", member: this.self, epoch }))
  }

  /** Asks to leave: the leader proposes a configuration without this node. */
  requestLeave(): void {
    this.leaving = true
    this.leavers.set(memberKey(this.self), this.self)
  }

  /**
   * An operator's removal of the member now at `address`, asked of this node
   * (passed on to the others, so the leader hears it). A process started
   * there later is another member and is not affected.
   */
  requestRemoval(address: string, force: boolean): MemberId | undefined {
    const member = this.view?.identityOf(address)
    if (member === undefined) return undefined
    this.removals.set(memberKey(member), { member, force })
    for (const to of this.otherMembers()) this.pendingOut.push(this.change(to, { kind: "remove", member, force }))
    return member
  }

  /**
   * Takes a new identity: this node was removed while it was still running,
   * so what it holds is not known to be current; it must join again as a
   * new member.
   */
  renew(generation: number): void {
    this.self = { address: this.self.address, generation }
    this.leaving = false
    this.syncedEpoch = 0
  }

  /** A peer's epoch seen in any message (SWIM, answers): what the barrier is checked against. */
  observeEpoch(address: string, epoch: number): void {
    if (epoch > (this.epochs.get(address) ?? 0)) this.epochs.set(address, epoch)
  }

  // ---- server side

  handle(request: PlacementRequest, nowMs: number): PlacementResponse {
    // Changes asked of the leader are planned on at once; the rest waits for the next retry period.
    if (request.kind === "change") this.dirty = true
    switch (request.kind) {
      case "hello":
        return this.onHello(request.body)
      case "prepare":
        return this.onPrepare(request.body, nowMs)
      case "accept":
        return this.onAccept(request.body, nowMs)
      case "commit":
        return this.onCommit(request.body, nowMs)
      case "change":
        return this.onChange(request.body, nowMs)
    }
  }

  onHello(_request: HelloRequest): HelloResponse {
    return { self: this.self, seeds: this.settings.seeds, config: this.view?.config, syncedEpoch: this.syncedEpoch }
  }

  onPrepare(request: PrepareRequest, nowMs: number): PrepareResponse {
    const refused = this.acceptorCheck(request.instance, request.base, request.seeds, nowMs)
    this.maxRound = Math.max(this.maxRound, request.ballot.round)
    if (refused !== undefined) return { acceptor: this.self, ok: false, promised: undefined, accepted: undefined, ...refused }
    const answer = this.acceptor.prepare(request.ballot)
    return { acceptor: this.self, ...answer, config: undefined, reason: answer.ok ? "" : "promised a higher ballot" }
  }

  onAccept(request: AcceptRequest, nowMs: number): AcceptResponse {
    const refused = this.acceptorCheck(request.instance, request.base, request.seeds, nowMs)
    this.maxRound = Math.max(this.maxRound, request.ballot.round)
    if (refused !== undefined) return { acceptor: this.self, ok: false, promised: undefined, ...refused }
    if (configProblem({ ...request.value, epoch: request.instance }) !== undefined) {
      return { acceptor: this.self, ok: false, promised: undefined, config: undefined, reason: "malformed configuration" }
    }
    const answer = this.acceptor.accept(request.ballot, request.value)
    return { acceptor: this.self, ...answer, config: undefined, reason: answer.ok ? "" : "promised a higher ballot" }
  }

  onCommit(request: CommitRequest, nowMs: number): CommitResponse {
    this.install(request.config, nowMs)
    return { epoch: this.epoch }
  }

  onChange(request: ChangeRequest, nowMs: number): ChangeResponse {
    const change = request.change
    const answer = (accepted: boolean, reason: string): ChangeResponse => ({ accepted, reason, epoch: this.epoch })
    switch (change.kind) {
      case "join": {
        if (this.view?.isMember(change.member) === true) return answer(true, "already a member")
        if (!this.joiners.has(change.member.address) && this.joiners.size >= MAX_PENDING) return answer(false, "too many joins waiting")
        const known = this.joiners.get(change.member.address)
        const verified = known !== undefined && sameMember(known.member, change.member) && known.verified
        this.joiners.set(change.member.address, { member: change.member, requestedMs: nowMs, verified })
        return answer(true, "join noted")
      }
      case "leave":
        if (this.view?.participates(change.member) !== true) return answer(false, "not a member")
        this.leavers.set(memberKey(change.member), change.member)
        return answer(true, "leave noted")
      case "remove":
        if (this.view?.participates(change.member) !== true) return answer(false, `${memberKey(change.member)} is not a member`)
        if (!this.removals.has(memberKey(change.member)) && this.removals.size >= MAX_PENDING) return answer(false, "too many removals waiting")
        this.removals.set(memberKey(change.member), { member: change.member, force: change.force })
        return answer(true, "removal noted")
      case "synced":
        if (this.view?.isMember(change.member) !== true) return answer(false, "not a member")
        if (change.epoch > (this.synced.get(memberKey(change.member)) ?? 0)) this.synced.set(memberKey(change.member), change.epoch)
        return answer(true, "noted")
    }
  }

  /** Why this node cannot act as an acceptor of `instance`, after catching up on `base`; undefined when it can. */
  private acceptorCheck(
    instance: number,
    base: RingConfig | undefined,
    seeds: ReadonlyArray<string>,
    nowMs: number
  ): { config: RingConfig | undefined; reason: string } | undefined {
    if (this.view !== undefined && instance <= this.view.epoch) return { config: this.view.config, reason: `epoch ${instance} is decided` }
    if (base !== undefined && base.epoch === instance - 1) this.install(base, nowMs)
    if (instance !== this.epoch + 1) return { config: undefined, reason: `behind: at epoch ${this.epoch}` }
    if (instance === 1) {
      if (!sortedEqual(seeds, this.settings.seeds)) return { config: undefined, reason: "seed lists differ" }
    } else if (!this.view!.isMember(this.self)) {
      return { config: undefined, reason: "not a member of the previous configuration" }
    }
    if (this.acceptor.instance !== instance) this.acceptor = new AcceptorState(instance)
    return undefined
  }

  // ---- client side

  /** What to send now: formation, joining, leaving, reports, and the leader's proposals. */
  tick(nowMs: number, liveness: Liveness): Array<Outbound> {
    const out = this.pendingOut.splice(0)
    const due = nowMs - this.lastRetryMs >= this.settings.retryMs
    if (due) this.lastRetryMs = nowMs
    const view = this.view
    const status = this.status
    if (view === undefined) {
      if (due) out.push(...this.formation(nowMs))
      return out
    }
    if (due && status === "joining") {
      for (const to of view.config.members) out.push(this.change(to.address, { kind: "join", member: this.self }))
    }
    if (due && status === "leaving") {
      for (const to of this.otherMembers()) out.push(this.change(to, { kind: "leave", member: this.self }))
    }
    // Catching up: ask one other participant now and then for what it has agreed (a lost commit is not missed for long).
    if (due && this.settings.random() < CATCH_UP_SHARE) {
      const others = this.otherMembers()
      const to = others[Math.floor(this.settings.random() * others.length)]
      if (to !== undefined) out.push({ to, request: { kind: "hello", body: { from: this.self, seeds: this.settings.seeds } } })
    }
    if (due && view.phase === "writeBoth" && this.syncedEpoch >= view.epoch && view.isMember(this.self)) {
      for (const to of this.otherMembers()) out.push(this.change(to, { kind: "synced", member: this.self, epoch: this.syncedEpoch }))
    }
    if (this.leads(liveness)) out.push(...this.lead(nowMs, liveness, due))
    return out
  }

  /** An answer to something `tick` or `onReply` sent; undefined when the call failed. */
  onReply(to: string, request: PlacementRequest, response: PlacementResponse | undefined, nowMs: number): Array<Outbound> {
    const out = this.pendingOut.splice(0)
    switch (request.kind) {
      case "hello": {
        const hello = response as HelloResponse | undefined
        if (hello === undefined) {
          this.seedAnswers.delete(to)
          return out
        }
        if (hello.config !== undefined) {
          this.observeEpoch(to, hello.config.epoch)
          this.install(hello.config, nowMs)
        }
        if (this.settings.seeds.includes(to)) this.seedAnswers.set(to, hello)
        const joiner = this.joiners.get(to)
        if (joiner !== undefined && sameMember(joiner.member, hello.self) && !joiner.verified) {
          joiner.verified = true
          this.dirty = true
        }
        return out
      }
      case "prepare":
      case "accept":
        return [...out, ...this.onRoundReply(to, request, response as PrepareResponse | AcceptResponse | undefined, nowMs)]
      case "commit":
        if (response !== undefined) this.observeEpoch(to, (response as CommitResponse).epoch)
        return out
      case "change": {
        const changed = response as ChangeResponse | undefined
        if (changed !== undefined) this.observeEpoch(to, changed.epoch)
        return out
      }
    }
  }

  private change(to: string, change: ChangeRequest["change"]): Outbound {
    return { to, request: { kind: "change", body: { from: this.self, change } } }
  }

  private otherMembers(): Array<string> {
    const view = this.view
    if (view === undefined) return []
    return view.addresses().filter((address) => address !== this.self.address)
  }

  /** Hello to every seed; once all answer alike with no configuration, the lowest one proposes the first. */
  private formation(nowMs: number): Array<Outbound> {
    const others = this.settings.seeds.filter((seed) => seed !== this.self.address)
    const out: Array<Outbound> = others.map((to) => ({ to, request: { kind: "hello", body: { from: this.self, seeds: this.settings.seeds } } }))
    if (this.round !== undefined) {
      if (nowMs - this.roundStartedMs < this.settings.proposalTimeoutMs) return out
      this.round = undefined
    }
    const answers = others.map((seed) => this.seedAnswers.get(seed))
    const allAlike = answers.every((a) => a !== undefined && a.config === undefined && sortedEqual(a.seeds, this.settings.seeds))
    if (!allAlike || nowMs < this.retryAfterMs) return out
    // The lowest seed proposes; the others only after a random pause, in case it cannot.
    if (this.settings.seeds[0] !== this.self.address && this.retryAfterMs === 0) {
      this.retryAfterMs = nowMs + this.settings.proposalTimeoutMs * (1 + this.settings.random())
      return out
    }
    const members = [this.self, ...answers.map((a) => a!.self)].sort((a, b) => (a.address < b.address ? -1 : 1))
    return [...out, ...this.propose(1, stableValue(members), this.settings.seeds, this.settings.seeds.length, nowMs)]
  }

  /** The leader: continue a proposal, or plan the next one and check the barrier first. */
  private lead(nowMs: number, liveness: Liveness, due: boolean): Array<Outbound> {
    const view = this.view!
    if (this.round !== undefined) {
      if (nowMs - this.roundStartedMs < this.settings.proposalTimeoutMs) return []
      this.round = undefined
      this.retryAfterMs = nowMs + this.settings.retryMs * this.settings.random()
    }
    if (nowMs < this.retryAfterMs || !(this.dirty || due)) return []
    this.dirty = false
    const out: Array<Outbound> = []
    // Joiners are believed only from themselves: each must answer a hello from here.
    if (due) {
      for (const [address, joiner] of this.joiners) {
        if (nowMs - joiner.requestedMs > this.settings.retryMs * 10) this.joiners.delete(address)
        else if (!joiner.verified) out.push({ to: address, request: { kind: "hello", body: { from: this.self, seeds: this.settings.seeds } } })
      }
    }
    const next = plan({
      view,
      settings: this.settings.ring,
      nowMs,
      installedAtMs: this.installedAtMs,
      deadNodeTimeoutMs: this.settings.deadNodeTimeoutMs,
      syncTimeoutMs: this.settings.syncTimeoutMs,
      // A joiner is no member yet, so the failure detector does not watch it: its answer to our hello
      // stands in, for its own identity only (not for an older process the ring still names at its address).
      reachable: (address) =>
        address === this.self.address || liveness.reachable(address) ||
        (this.joiners.get(address)?.verified === true && view.identityOf(address) === undefined),
      // A verdict formed before this node (re)joined, while it was cut off, is no evidence of a death now.
      deadForMs: (address) => {
        const deadFor = address === this.self.address ? undefined : liveness.deadForMs(address)
        return deadFor === undefined ? undefined : Math.min(deadFor, nowMs - this.memberSinceMs)
      },
      joiners: [...this.joiners.values()].filter((j) => j.verified).map((j) => j.member),
      leavers: [...this.leavers.values()],
      removals: [...this.removals.values()],
      syncedAt: (member) => (sameMember(member, this.self) ? this.syncedEpoch : this.synced.get(memberKey(member)) ?? 0)
    })
    this.lastPlan = next
    if (next._tag !== "Propose") return out
    // Barrier: the epoch before this one must no longer be able to form a quorum.
    const epochOf = (address: string) => (address === this.self.address ? view.epoch : this.epochs.get(address) ?? 0)
    const gone = new Set([...this.removals.values()].filter((r) => r.force && view.participates(r.member)).map((r) => r.member.address))
    if (next.revert !== true && !barrierHolds(view, epochOf, gone)) {
      if (due) {
        for (const address of view.addresses()) {
          if (epochOf(address) < view.epoch) out.push({ to: address, request: { kind: "commit", body: { config: view.config } } })
        }
      }
      return out
    }
    const acceptors = view.config.members.map((m) => m.address)
    return [...out, ...this.propose(view.epoch + 1, next.value, this.settings.seeds, majority(acceptors.length), nowMs, acceptors)]
  }

  private propose(
    instance: number,
    value: ConfigValue,
    seeds: ReadonlyArray<string>,
    quorum: number,
    nowMs: number,
    acceptors: ReadonlyArray<string> = seeds
  ): Array<Outbound> {
    const ballot: Ballot = { round: ++this.maxRound, proposer: memberKey(this.self) }
    this.round = new ProposerRound(instance, ballot, acceptors, quorum, value)
    this.roundStartedMs = nowMs
    const base = this.view?.config
    const request: PlacementRequest = { kind: "prepare", body: { from: this.self, instance, ballot, base, seeds } }
    return this.sendToAcceptors(request, nowMs)
  }

  /** Sends to every acceptor; this node's own acceptor answers at once. */
  private sendToAcceptors(request: PlacementRequest, nowMs: number): Array<Outbound> {
    const round = this.round!
    const out: Array<Outbound> = []
    for (const acceptor of round.acceptors) {
      if (acceptor !== this.self.address) out.push({ to: acceptor, request })
    }
    if (round.acceptors.includes(this.self.address)) {
      out.push(...this.onRoundReply(this.self.address, request, this.handle(request, nowMs) as PrepareResponse | AcceptResponse, nowMs))
    }
    return out
  }

  private onRoundReply(
    to: string,
    request: PlacementRequest,
    response: PrepareResponse | AcceptResponse | undefined,
    nowMs: number
  ): Array<Outbound> {
    const round = this.round
    if (response?.config !== undefined) {
      this.observeEpoch(to, response.config.epoch)
      this.install(response.config, nowMs)
    }
    if (round === undefined || this.round !== round) return []
    const body = request.body as PrepareRequest | AcceptRequest
    if (body.instance !== round.instance || body.ballot.round !== round.ballot.round || body.ballot.proposer !== round.ballot.proposer) return []
    let step: RoundStep
    if (response === undefined) step = round.onSilence(to)
    else if (request.kind === "prepare") step = round.onPromise(to, response as PrepareResponse)
    else step = round.onAccepted(to, response)
    switch (step._tag) {
      case "Wait":
        return []
      case "Lost":
        this.round = undefined
        this.dirty = true
        if (step.highest !== undefined) this.maxRound = Math.max(this.maxRound, step.highest.round)
        this.retryAfterMs = nowMs + this.settings.retryMs * (0.5 + this.settings.random())
        return []
      case "Accept":
        return this.sendToAcceptors(
          { kind: "accept", body: { from: this.self, instance: round.instance, ballot: round.ballot, value: step.value, base: this.view?.config, seeds: this.settings.seeds } },
          nowMs
        )
      case "Decided": {
        this.round = undefined
        const before = this.view
        const config: RingConfig = { epoch: round.instance, ...step.value }
        this.install(config, nowMs)
        // Everyone concerned hears of it: both rings of the old and the new configuration, and joiners.
        const targets = new Set([...(before?.addresses() ?? this.settings.seeds), ...(this.view?.addresses() ?? []), ...this.joiners.keys()])
        targets.delete(this.self.address)
        return [...targets].map((to) => ({ to, request: { kind: "commit", body: { config } } }))
      }
    }
  }
}
