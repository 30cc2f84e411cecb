import type { MemberId, RingConfig } from "../protocol/placement.js"
import { HashRing } from "../ring/HashRing.js"
import type { Hash32 } from "../ring/keyHash.js"

/** What every node builds rings with; equal on every member (VNODES, REPLICATION_FACTOR). */
export interface RingSettings {
  readonly vnodes: number
  readonly replicas: number
  readonly hash: Hash32
}

/** The smallest majority of `n`: any two such sets out of `n` intersect. */
export const majority = (n: number): number => Math.floor(n / 2) + 1

/**
 * Sources a member must copy a range from so that it holds every write a
 * majority of the `n` replicas acknowledged: any `n - majority(n) + 1` of
 * them include one that acknowledged it.
 */
export const sourcesNeeded = (n: number): number => n - majority(n) + 1

/**
 * One agreed ring configuration with its rings built: what coordinators route
 * with, what replicas check operations against, and what the movement rules
 * are computed on. Immutable; a new configuration is a new view.
 *
 * Quorums are counted per key over replica sets: in `stable` the key's
 * replicas on the ring of `members`; during a movement, writes need a quorum
 * of both its replicas on the previous ring and on the new one, and reads use
 * the previous ring (`writeBoth`) or the new one (`readNew`). On the previous
 * ring, a member removed by force, or replaced by a newer generation at the
 * same address, does not count: its sets shrink by it.
 */
export class ConfigView {
  /** The ring of `members`. */
  readonly next: HashRing
  /** The ring of `previous` during a movement; undefined when stable. */
  readonly previous: HashRing | undefined
  /** Identity per address: a member's own, else the previous ring's. */
  private readonly identities = new Map<string, MemberId>()
  /** Addresses whose copy on the previous ring no longer counts. */
  private readonly excluded = new Set<string>()
  /** Each member's generation by address: membership checks without building strings. */
  private readonly memberGenerations = new Map<string, number>()
  /** Derived results computed at most once per view (pull plans, trial views): a view never changes. */
  private readonly memo = new Map<string, unknown>()

  private constructor(readonly config: RingConfig, settings: RingSettings) {
    const build = (members: ReadonlyArray<MemberId>) =>
      HashRing.build(members.map((m) => m.address), { vnodes: settings.vnodes, replicas: settings.replicas, hash: settings.hash })
    this.next = build(config.members)
    this.previous = config.phase === "stable" ? undefined : build(config.previous)
    for (const member of config.members) this.identities.set(member.address, member)
    for (const member of config.previous) {
      const current = this.identities.get(member.address)
      if (current === undefined) this.identities.set(member.address, member)
      else if (current.generation !== member.generation) this.excluded.add(member.address)
    }
    for (const member of config.forced) this.excluded.add(member.address)
    for (const member of config.members) this.memberGenerations.set(member.address, member.generation)
  }

  static build(config: RingConfig, settings: RingSettings): ConfigView {
    return new ConfigView(config, settings)
  }

  get epoch(): number {
    return this.config.epoch
  }

  get phase(): RingConfig["phase"] {
    return this.config.phase
  }

  get stable(): boolean {
    return this.config.phase === "stable"
  }

  /** Whether `member` (this identity) is on the ring of `members`. */
  isMember(member: MemberId): boolean {
    return this.memberGenerations.get(member.address) === member.generation
  }

  /** The identity that answers for `address` in this configuration. */
  identityOf(address: string): MemberId | undefined {
    return this.identities.get(address)
  }

  /** Whether `member` is the identity that answers for its address here. */
  isCurrent(member: MemberId): boolean {
    return this.identities.get(member.address)?.generation === member.generation
  }

  /** Whether `member` takes part in this configuration: a member, or a counted replica of the previous ring. */
  participates(member: MemberId): boolean {
    return this.isCurrent(member) && (this.isMember(member) || this.countsOnPrevious(member.address))
  }

  /** The ring reads use. */
  get readRing(): HashRing {
    return this.config.phase === "writeBoth" ? this.previous! : this.next
  }

  /** Replicas a read asks (addresses), from the read ring; excluded ones left out. */
  readReplicas(keyHash: number): ReadonlyArray<string> {
    if (this.config.phase !== "writeBoth") return this.next.preferenceList(keyHash)
    return this.counted(this.previous!.preferenceList(keyHash))
  }

  /**
   * The replica sets a write must reach a quorum of, each as addresses: one
   * when stable, the previous ring's (excluded ones left out) and the new
   * ring's during a movement.
   */
  writeGroups(keyHash: number): ReadonlyArray<ReadonlyArray<string>> {
    const next = this.next.preferenceList(keyHash)
    if (this.previous === undefined) return [next]
    return [this.counted(this.previous.preferenceList(keyHash)), next]
  }

  /** Whether `member` answers reads of keys with this hash in this configuration. */
  readsAt(member: MemberId, keyHash: number): boolean {
    if (!this.isCurrent(member)) return false
    return this.config.phase === "writeBoth"
      ? this.countsOnPrevious(member.address) && this.previous!.replicates(member.address, keyHash)
      : this.isMember(member) && this.next.replicates(member.address, keyHash)
  }

  /** Whether `member` takes writes of keys with this hash in this configuration. */
  writesAt(member: MemberId, keyHash: number): boolean {
    if (!this.isCurrent(member)) return false
    if (this.isMember(member) && this.next.replicates(member.address, keyHash)) return true
    return this.countsOnPrevious(member.address) && this.previous!.replicates(member.address, keyHash)
  }

  /** `compute()` once per view and key: for derived values that are costly (they scan every ring point). */
  memoized<A>(key: string, compute: () => A): A {
    if (this.memo.has(key)) return this.memo.get(key) as A
    const value = compute()
    this.memo.set(key, value)
    return value
  }

  /** Every address the configuration names, on either ring. */
  addresses(): ReadonlyArray<string> {
    return [...this.identities.keys()]
  }

  /** Whether the copy at `address` on the previous ring counts (it is on it, not forced out, not replaced). */
  private countsOnPrevious(address: string): boolean {
    return this.previous !== undefined && !this.excluded.has(address) && this.previous.members.includes(address)
  }

  private counted(list: ReadonlyArray<string>): ReadonlyArray<string> {
    if (this.excluded.size === 0) return list
    return list.filter((address) => !this.excluded.has(address))
  }
}
