/**
 * An immutable consistent-hash ring: every member owns `vnodes` points
 * (tokens) on a 32-bit circle; a key belongs to the first `replicas`
 * distinct members clockwise from its hash. Preference lists are computed
 * once per token when the ring is built, so a lookup is one binary search
 * and no allocation. A membership change builds a new ring.
 */
export class HashRing {
  private constructor(
    /** Members in sorted order. */
    readonly members: ReadonlyArray<string>,
    readonly replicas: number,
    /** Sorted token positions. */
    private readonly tokens: Uint32Array,
    /** Token i's owner (index into members). */
    private readonly owners: Uint16Array,
    /** Token i's preference list. */
    private readonly preferences: ReadonlyArray<ReadonlyArray<string>>
  ) {}

  /**
   * Builds the ring. `replicas` is capped by the number of members; `hash`
   * maps a token name (`member#i`) to an unsigned 32-bit position.
   */
  static build(
    members: Iterable<string>,
    options: { readonly vnodes: number; readonly replicas: number; readonly hash: (text: string) => number }
  ): HashRing {
    const sorted = [...new Set(members)].sort()
    if (sorted.length > 0xffff) throw new Error("too many ring members")
    const points: Array<{ token: number; owner: number }> = []
    sorted.forEach((member, owner) => {
      for (let i = 0; i < options.vnodes; i++) points.push({ token: options.hash(`${member}#${i}`) >>> 0, owner })
    })
    points.sort((a, b) => a.token - b.token || a.owner - b.owner)
    const tokens = Uint32Array.from(points, (p) => p.token)
    const owners = Uint16Array.from(points, (p) => p.owner)
    const replicas = Math.min(options.replicas, sorted.length)
    const preferences = points.map((_, start) => {
      const list: Array<string> = []
      for (let i = start; list.length < replicas; i = (i + 1) % points.length) {
        const member = sorted[owners[i]!]!
        if (!list.includes(member)) list.push(member)
      }
      return list
    })
    return new HashRing(sorted, replicas, tokens, owners, preferences)
  }

  get size(): number {
    return this.members.length
  }

  /** The members that hold a key with this hash, primary first. Empty for an empty ring. */
  preferenceList(keyHash: number): ReadonlyArray<string> {
    const tokens = this.tokens
    if (tokens.length === 0) return []
    const h = keyHash >>> 0
    let lo = 0
    let hi = tokens.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (tokens[mid]! < h) lo = mid + 1
      else hi = mid
    }
    return this.preferences[lo === tokens.length ? 0 : lo]!
  }

  /** Token positions in ascending order: each ends the arc (previous token, token]. */
  get positions(): Uint32Array {
    return this.tokens
  }

  /** Whether `member` replicates keys with this hash. */
  replicates(member: string, keyHash: number): boolean {
    return this.preferenceList(keyHash).includes(member)
  }

  /** The share of the hash circle each member owns as primary (for balance checks and the admin view). */
  primaryShares(): Map<string, number> {
    const shares = new Map<string, number>(this.members.map((m) => [m, 0]))
    const n = this.tokens.length
    for (let i = 0; i < n; i++) {
      // Token i owns the arc (previous token, token i].
      const previous = i === 0 ? this.tokens[n - 1]! - 2 ** 32 : this.tokens[i - 1]!
      const member = this.members[this.owners[i]!]!
      shares.set(member, shares.get(member)! + (this.tokens[i]! - previous) / 2 ** 32)
    }
    return shares
  }
}
