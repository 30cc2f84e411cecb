import type { MemberStatus, MemberUpdate } from "../protocol/membership.js"

export interface MemberRecord extends MemberUpdate {
  /** The process generation the agreed ring names at this address (0 for self before it knows). */
  readonly generation: number
  /** When this record last changed; for a suspect, when the suspicion started. */
  readonly changedAtMs: number
}

/** The highest incarnation the wire carries (uint32): refutations saturate there. */
export const MAX_INCARNATION = 0xffffffff

/**
 * At equal incarnation a later status in this order wins. Together with the
 * incarnation this makes precedence a total order, (incarnation, rank)
 * compared lexicographically.
 */
const RANK: Readonly<Record<MemberStatus, number>> = { alive: 0, suspect: 1, dead: 2, left: 3 }

const supersedes = (update: MemberUpdate, current: MemberUpdate): boolean =>
  update.incarnation > current.incarnation ||
  (update.incarnation === current.incarnation && RANK[update.status] > RANK[current.status])

/** Rumors come off the wire; an incarnation outside the wire type must not poison comparisons. */
const isValid = (update: MemberUpdate): boolean =>
  Object.hasOwn(RANK, update.status) && Number.isInteger(update.incarnation) && update.incarnation >= 0 &&
  update.incarnation <= MAX_INCARNATION

const toUpdate = ({ address, incarnation, status }: MemberUpdate): MemberUpdate => ({ address, incarnation, status })

/** What applying a rumor did: an update to gossip on, and whether the member should be probed now. */
export interface Applied {
  readonly change: MemberUpdate | undefined
  readonly check: boolean
}

const NOTHING: Applied = { change: undefined, check: false }

/**
 * The SWIM table of one node: what it believes about the members of the
 * agreed ring it tracks, itself included. It never adds a member: only
 * `track` (from an agreed configuration) does. Rumors are trusted by source:
 *
 * - "alive" or "left" about a member is believed only from that member;
 * - "suspect", "dead" or "left" from a third party is a suspicion: an alive
 *   member becomes suspect here and is probed at once, so that a false or
 *   forged rumor is refuted by the member itself answering;
 * - a rumor about self that would beat self's record is refuted by going
 *   alive above it (saturating at the wire's highest incarnation, where
 *   answering probes is refutation enough).
 *
 * Plain synchronous code; time comes in as `nowMs`.
 */
export class MemberTable {
  private readonly records = new Map<string, MemberRecord>()

  constructor(readonly self: string, nowMs: number) {
    this.records.set(self, { address: self, incarnation: 0, status: "alive", generation: 0, changedAtMs: nowMs })
  }

  get selfIncarnation(): number {
    return this.selfRecord.incarnation
  }

  /**
   * Tracks exactly these members (the agreed ring's, with their
   * generations): new ones start alive, ones no longer named are dropped, a
   * new generation at an address starts afresh.
   */
  track(members: ReadonlyArray<{ readonly address: string; readonly generation: number }>, nowMs: number): void {
    const wanted = new Map(members.filter((m) => m.address !== this.self).map((m) => [m.address, m.generation]))
    for (const address of this.records.keys()) if (address !== this.self && !wanted.has(address)) this.records.delete(address)
    for (const [address, generation] of wanted) {
      const current = this.records.get(address)
      if (current === undefined || current.generation !== generation) {
        this.records.set(address, { address, incarnation: 0, status: "alive", generation, changedAtMs: nowMs })
      }
    }
  }

  /** Applies a rumor heard from `from` under the trust rules above. */
  apply(update: MemberUpdate, from: string, nowMs: number): Applied {
    if (!isValid(update)) return NOTHING
    if (update.address === this.self) return { change: this.aboutSelf(update, nowMs), check: false }
    const current = this.records.get(update.address)
    if (current === undefined) return NOTHING // not a member: gossip cannot add one
    if (from === update.address) {
      // First-hand: the member speaks for itself (alive at a new incarnation, or leaving).
      if ((update.status === "alive" || update.status === "left") && supersedes(update, current)) {
        return { change: this.set(current, update.incarnation, update.status, nowMs), check: false }
      }
      return NOTHING
    }
    if (update.status === "alive" || current.status !== "alive") return NOTHING
    // Third-hand suspicion, dead or left: suspect here, and check.
    return { change: this.set(current, current.incarnation, "suspect", nowMs), check: true }
  }

  /**
   * The member answered (a probe, an indirect probe, or its own ping) as
   * process `generation`: alive if that is the generation the ring names;
   * if another process answers at its address, the one the ring names is
   * gone for good: dead at once.
   */
  heardFrom(address: string, generation: number, nowMs: number): MemberUpdate | undefined {
    const current = this.records.get(address)
    if (current === undefined || address === this.self) return undefined
    if (generation !== current.generation) {
      return current.status === "dead" ? undefined : this.set(current, current.incarnation, "dead", nowMs)
    }
    if (current.status === "alive") return undefined
    return this.set(current, current.incarnation, "alive", nowMs)
  }

  /** Local failure detector: the probe of `address` (and the indirect probes) failed. */
  suspect(address: string, nowMs: number): MemberUpdate | undefined {
    const current = this.records.get(address)
    if (address === this.self || current === undefined || current.status !== "alive") return undefined
    return this.set(current, current.incarnation, "suspect", nowMs)
  }

  /** Suspects whose suspicion started at least `timeoutMs` ago become dead. */
  expireSuspects(nowMs: number, timeoutMs: number): ReadonlyArray<MemberUpdate> {
    const expired: Array<MemberUpdate> = []
    for (const record of this.records.values()) {
      if (record.status === "suspect" && nowMs - record.changedAtMs >= timeoutMs) {
        expired.push(this.set(record, record.incarnation, "dead", nowMs))
      }
    }
    return expired
  }

  /** Self announces a graceful leave (for failure detection only: leaving the ring is agreed elsewhere). */
  leave(nowMs: number): MemberUpdate {
    const current = this.selfRecord
    if (current.status === "left") return toUpdate(current)
    return this.set(current, Math.min(MAX_INCARNATION, current.incarnation + 1), "left", nowMs)
  }

  get(address: string): MemberRecord | undefined {
    return this.records.get(address)
  }

  /** All tracked members including self, sorted by address. */
  members(): ReadonlyArray<MemberRecord> {
    return [...this.records.values()].sort(byAddress)
  }

  /** Members worth probing: alive or suspect (a suspect may still answer), not self. */
  /** Members the ring still names that this node holds dead: pinged apart from the rotation, to notice them back. */
  dead(): ReadonlyArray<string> {
    const out: Array<string> = []
    for (const record of this.records.values()) if (record.status === "dead") out.push(record.address)
    return out
  }

  probeable(): ReadonlyArray<string> {
    const out: Array<string> = []
    for (const record of this.records.values()) {
      if (record.address !== this.self && (record.status === "alive" || record.status === "suspect")) out.push(record.address)
    }
    return out.sort()
  }

  private get selfRecord(): MemberRecord {
    return this.records.get(this.self)!
  }

  private aboutSelf(update: MemberUpdate, nowMs: number): MemberUpdate | undefined {
    const current = this.selfRecord
    if (current.status === "left" || update.status === "alive" || !supersedes(update, current)) return undefined
    return this.set(current, Math.min(MAX_INCARNATION, update.incarnation + 1), "alive", nowMs)
  }

  private set(current: MemberRecord, incarnation: number, status: MemberStatus, nowMs: number): MemberUpdate {
    const record: MemberRecord = { address: current.address, incarnation, status, generation: current.generation, changedAtMs: nowMs }
    this.records.set(record.address, record)
    return toUpdate(record)
  }
}

const byAddress = (a: MemberRecord, b: MemberRecord): number => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0)
