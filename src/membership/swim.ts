export type MemberStatus = "alive" | "suspect" | "dead" | "left"

/** One gossip unit: what one node claims about one member. */
export interface MemberUpdate {
  readonly address: string
  readonly incarnation: number
  readonly status: MemberStatus
}

export interface MemberRecord extends MemberUpdate {
  /** When this record last changed; for a suspect, when the suspicion started. */
  readonly changedAtMs: number
}

/**
 * At equal incarnation a later status in this order wins. Together with the
 * incarnation this makes precedence a total order, (incarnation, rank)
 * compared lexicographically, so every node that hears the same rumors about
 * a member ends up with the same record whatever order they arrived in.
 */
const RANK: Readonly<Record<MemberStatus, number>> = { alive: 0, suspect: 1, dead: 2, left: 3 }

/** Whether `update` takes precedence over `current` under the SWIM rules. */
const supersedes = (update: MemberUpdate, current: MemberUpdate): boolean =>
  update.incarnation > current.incarnation ||
  (update.incarnation === current.incarnation && RANK[update.status] > RANK[current.status])

/** Rumors come off the wire; a bad incarnation must not poison comparisons (NaN) or overflow on refutation. */
const isValid = (update: MemberUpdate): boolean =>
  Object.hasOwn(RANK, update.status) &&
  Number.isSafeInteger(update.incarnation) &&
  update.incarnation >= 0 &&
  update.incarnation < Number.MAX_SAFE_INTEGER

const toUpdate = ({ address, incarnation, status }: MemberUpdate): MemberUpdate => ({ address, incarnation, status })

/**
 * The SWIM membership table of one node: what it believes about every member
 * it has heard of, itself included. Plain synchronous code; time comes in as
 * `nowMs` so that tests can drive it.
 */
export class MemberTable {
  private readonly records = new Map<string, MemberRecord>()

  constructor(readonly self: string, nowMs: number) {
    this.records.set(self, { address: self, incarnation: 0, status: "alive", changedAtMs: nowMs })
  }

  get selfIncarnation(): number {
    return this.selfRecord.incarnation
  }

  /**
   * Applies a rumor with SWIM precedence; returns the update to re-gossip if
   * the table changed (for a rumor about self that had to be refuted, the
   * refutation: self alive at a higher incarnation), else undefined.
   */
  apply(update: MemberUpdate, nowMs: number): MemberUpdate | undefined {
    if (!isValid(update)) return undefined
    if (update.address === this.self) return this.applyAboutSelf(update, nowMs)
    const current = this.records.get(update.address)
    if (current !== undefined && !supersedes(update, current)) return undefined
    // A dead or left rumor about an unknown member is recorded too, so that a
    // stale alive with a lower incarnation cannot resurrect it later.
    return this.set(update, nowMs)
  }

  /**
   * Local failure detector: the probe of `address` (and the indirect probes)
   * failed. Alive becomes suspect at the same incarnation; anything else is
   * left alone so that an ongoing suspicion keeps its start time.
   */
  suspect(address: string, nowMs: number): MemberUpdate | undefined {
    const current = this.records.get(address)
    if (address === this.self || current === undefined || current.status !== "alive") return undefined
    return this.set({ address, incarnation: current.incarnation, status: "suspect" }, nowMs)
  }

  /** Suspects whose suspicion started at least `timeoutMs` ago become dead. */
  expireSuspects(nowMs: number, timeoutMs: number): ReadonlyArray<MemberUpdate> {
    const expired: Array<MemberUpdate> = []
    for (const record of this.members()) {
      if (record.status === "suspect" && nowMs - record.changedAtMs >= timeoutMs) {
        expired.push(this.set({ address: record.address, incarnation: record.incarnation, status: "dead" }, nowMs))
      }
    }
    return expired
  }

  /**
   * Self announces a graceful leave: left at incarnation + 1, which beats any
   * alive or suspect others hold for us. Calling it again re-announces the
   * same update rather than bumping again.
   */
  leave(nowMs: number): MemberUpdate {
    const current = this.selfRecord
    if (current.status === "left") return toUpdate(current)
    return this.set({ address: this.self, incarnation: current.incarnation + 1, status: "left" }, nowMs)
  }

  get(address: string): MemberRecord | undefined {
    return this.records.get(address)
  }

  /** All known members including self, sorted by address. */
  members(): ReadonlyArray<MemberRecord> {
    return [...this.records.values()].sort(byAddress)
  }

  /** Members worth probing: alive or suspect (a suspect may still refute), not self. */
  probeable(): ReadonlyArray<string> {
    return this.members()
      .filter((m) => m.address !== this.self && (m.status === "alive" || m.status === "suspect"))
      .map((m) => m.address)
  }

  /**
   * Forgets members that have been dead or left for at least `afterMs`, so
   * that the table does not grow forever. Once forgotten, a stale alive rumor
   * could bring a member back, so `afterMs` should outlast how long rumors
   * keep circulating. Self is never forgotten.
   */
  reap(nowMs: number, afterMs: number): ReadonlyArray<string> {
    const reaped: Array<string> = []
    for (const record of this.members()) {
      if (record.address === this.self) continue
      if ((record.status === "dead" || record.status === "left") && nowMs - record.changedAtMs >= afterMs) {
        this.records.delete(record.address)
        reaped.push(record.address)
      }
    }
    return reaped
  }

  private get selfRecord(): MemberRecord {
    return this.records.get(this.self)!
  }

  /**
   * Our own view of ourselves always wins: any rumor that would beat it
   * (suspect, dead or left at our incarnation or above, alive above it) is
   * refuted by going alive past it. Once we have left we let it be.
   */
  private applyAboutSelf(update: MemberUpdate, nowMs: number): MemberUpdate | undefined {
    const current = this.selfRecord
    if (current.status === "left" || !supersedes(update, current)) return undefined
    return this.set({ address: this.self, incarnation: update.incarnation + 1, status: "alive" }, nowMs)
  }

  private set(update: MemberUpdate, nowMs: number): MemberUpdate {
    const record: MemberRecord = { ...toUpdate(update), changedAtMs: nowMs }
    this.records.set(record.address, record)
    return toUpdate(record)
  }
}

const byAddress = (a: MemberRecord, b: MemberRecord): number => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0)
