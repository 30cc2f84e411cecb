import { type ConfigValue, type MemberId, memberKey, sameMember } from "../protocol/placement.js"
import type { HashRange } from "../ring/hashRange.js"
import { ConfigView, type RingSettings } from "./ConfigView.js"
import { arcsAtRisk, pullPlan } from "./movement.js"

/**
 * The leader's rule for the next configuration, as a pure function of the
 * current one and what the leader knows. A change of members always goes
 * stable(M) → writeBoth(M → M') → readNew(M → M') → stable(M'), each step
 * its own epoch; a movement whose pulling cannot finish (a puller died, a
 * forced removal is waiting, it took longer than SYNC_TIMEOUT) goes back to
 * stable(M) instead. Adjacent steps have intersecting quorums, so they may
 * be in use at once; the barrier keeps older ones out (see `barrierHolds`).
 */

export interface PlanInputs {
  readonly view: ConfigView
  readonly settings: RingSettings
  readonly nowMs: number
  /** When `view` was installed here. */
  readonly installedAtMs: number
  readonly deadNodeTimeoutMs: number
  readonly syncTimeoutMs: number
  /** The failure detector's view of the member that answers for this address. */
  readonly reachable: (address: string) => boolean
  /** How long the member at this address has been dead; undefined while it is not. */
  readonly deadForMs: (address: string) => number | undefined
  /** Nodes asking to join, each confirmed by a direct answer from that very process. */
  readonly joiners: ReadonlyArray<MemberId>
  /** Members asking to leave gracefully. */
  readonly leavers: ReadonlyArray<MemberId>
  /** Addresses an operator asked to remove: with `force`, even if writes may be lost. */
  readonly removals: ReadonlyArray<{ readonly member: MemberId; readonly force: boolean }>
  /** The epoch at which a member last reported its pulls complete. */
  readonly syncedAt: (member: MemberId) => number
}

export type Plan =
  /**
   * `revert`: back from writeBoth(P → M) to stable(P). That equals the
   * configuration before the movement (writeBoth is only ever proposed from
   * stable(P), after the barrier), so no barrier is needed: the
   * configurations in use stay pairwise compatible.
   */
  | { readonly _tag: "Propose"; readonly value: ConfigValue; readonly why: string; readonly revert?: boolean }
  | { readonly _tag: "Wait"; readonly why: string }
  | { readonly _tag: "Idle" }
  /** Removals that S4 does not allow automatically: these arcs would keep no reachable majority. */
  | { readonly _tag: "Blocked"; readonly members: ReadonlyArray<string>; readonly arcs: ReadonlyArray<HashRange>; readonly why: string }

const IDLE: Plan = { _tag: "Idle" }

const byAddress = (a: MemberId, b: MemberId) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0)

export const stableValue = (members: ReadonlyArray<MemberId>): ConfigValue => ({ phase: "stable", members, previous: [], forced: [] })

export const plan = (inputs: PlanInputs): Plan => {
  const { view } = inputs
  const config = view.config
  switch (config.phase) {
    case "readNew":
      return { _tag: "Propose", value: stableValue(config.members), why: "every member that gained ranges has pulled them" }
    case "writeBoth":
      return planMovement(inputs)
    case "stable":
      return planChange(inputs)
  }
}

/** During writeBoth: go on to readNew once every puller has pulled; go back to the previous ring when that cannot happen. */
const planMovement = (inputs: PlanInputs): Plan => {
  const { view } = inputs
  const config = view.config
  const pullers = config.members.filter((member) => pullPlan(view, member).length > 0)
  const revert = (why: string): Plan => ({ _tag: "Propose", value: stableValue(config.previous), why, revert: true })
  const gone = pullers.filter((member) => !inputs.reachable(member.address))
  if (gone.length > 0) return revert(`members that must pull are unreachable: ${gone.map((m) => m.address).join(",")}`)
  if (inputs.nowMs - inputs.installedAtMs > inputs.syncTimeoutMs) return revert("pulling took longer than SYNC_TIMEOUT")
  const forcing = inputs.removals.filter((r) => r.force && config.members.some((m) => sameMember(m, r.member)))
  if (forcing.length > 0) return revert(`a removal by force is waiting: ${forcing.map((r) => r.member.address).join(",")}`)
  const pending = pullers.filter((member) => inputs.syncedAt(member) < config.epoch)
  if (pending.length > 0) return { _tag: "Wait", why: `waiting for pulls: ${pending.map((m) => m.address).join(",")}` }
  return {
    _tag: "Propose",
    value: { phase: "readNew", members: config.members, previous: config.previous, forced: config.forced },
    why: pullers.length === 0 ? "nothing to pull" : `pulled by ${pullers.map((m) => m.address).join(",")}`
  }
}

/** In a stable configuration: joins, leaves and removals become one movement. */
const planChange = (inputs: PlanInputs): Plan => {
  const { view } = inputs
  const members = view.config.members
  const memberAt = new Map(members.map((m) => [m.address, m]))

  const forced = new Set(inputs.removals.filter((r) => r.force && sameMember(memberAt.get(r.member.address), r.member)).map((r) => r.member.address))
  const leaving = new Set(inputs.leavers.filter((l) => sameMember(memberAt.get(l.address), l)).map((l) => l.address))
  // Candidates for removal that S4 must allow: dead long enough, asked by an operator, or replaced by a new process at the same address.
  const candidates: Array<string> = []
  const joiners: Array<MemberId> = []
  for (const member of members) {
    if (forced.has(member.address) || leaving.has(member.address)) continue
    const dead = inputs.deadForMs(member.address)
    const asked = inputs.removals.some((r) => !r.force && sameMember(r.member, member))
    if ((dead !== undefined && dead >= inputs.deadNodeTimeoutMs) || asked) candidates.push(member.address)
  }
  for (const joiner of inputs.joiners) {
    const current = memberAt.get(joiner.address)
    if (current === undefined) joiners.push(joiner)
    else if (current.generation !== joiner.generation && !forced.has(joiner.address)) {
      // The process that was this member is gone: the new one replaces it once S4 allows.
      if (!candidates.includes(joiner.address)) candidates.push(joiner.address)
      joiners.push(joiner)
    }
  }

  // S4: admit removals one by one while every arc they touch keeps a reachable majority
  // (leavers and forced removals are not checked: leavers copy out, force is the operator's call).
  const admittedRemovals = new Set<string>()
  const blocked: Array<string> = []
  for (const address of candidates) {
    const trial = new Set([...admittedRemovals, address])
    if (arcsAtRisk(view, trial, inputs.reachable).length === 0) admittedRemovals.add(address)
    else blocked.push(address)
  }
  const removing = new Set<string>([...forced, ...leaving, ...admittedRemovals])

  const next = members.filter((m) => !removing.has(m.address))
  const admitted = joiners.filter((j) => !memberAt.has(j.address) || removing.has(j.address))
  const target = [...next, ...admitted].sort(byAddress)
  if (target.length === 0) return { _tag: "Wait", why: "the last member cannot leave" }
  const changed = target.length !== members.length || target.some((m, i) => !sameMember(m, members[i]))
  if (!changed) {
    if (blocked.length === 0) return IDLE
    const arcs = arcsAtRisk(view, new Set(blocked), inputs.reachable)
    return { _tag: "Blocked", members: blocked, arcs, why: `removal of ${blocked.join(",")} would leave ranges without a reachable majority` }
  }
  const forcedMembers = members.filter((m) => forced.has(m.address))
  const value: ConfigValue = { phase: "writeBoth", members: target, previous: members, forced: forcedMembers }

  // Every member that must pull has to be reachable, with enough reachable sources, or the movement would stall.
  const trial = view.memoized(`trial:${JSON.stringify(value)}`, () => ConfigView.build({ ...value, epoch: view.epoch + 1 }, inputs.settings))
  const pulls = target.map((member) => ({ member, tasks: pullPlan(trial, member) }))
  // A joiner answered the leader itself (a replacement's address still names the old process for the detector).
  const reachableMember = (member: MemberId) => admitted.some((j) => sameMember(j, member)) || inputs.reachable(member.address)
  const unreachable = pulls.filter(({ member, tasks }) => tasks.length > 0 && !reachableMember(member))
  if (unreachable.length > 0) {
    return { _tag: "Wait", why: `members that would have to pull are unreachable: ${unreachable.map((p) => p.member.address).join(",")}` }
  }
  const starved = pulls.filter(({ member, tasks }) =>
    tasks.some((task) => task.sources.filter((s) => (s === member.address && reachableMember(member)) || inputs.reachable(s)).length < task.needed)
  )
  if (starved.length > 0) {
    return { _tag: "Wait", why: `too few reachable replicas to copy from for ${starved.map((p) => p.member.address).join(",")}` }
  }
  const why = [
    admitted.length > 0 ? `join ${admitted.map(memberKey).join(",")}` : "",
    leaving.size > 0 ? `leave ${[...leaving].join(",")}` : "",
    admittedRemovals.size > 0 ? `remove ${[...admittedRemovals].join(",")}` : "",
    forced.size > 0 ? `remove by force ${[...forced].join(",")}` : ""
  ].filter((part) => part !== "").join("; ")
  return { _tag: "Propose", value, why }
}
