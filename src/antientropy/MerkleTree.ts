import type { Version } from "../clock/version.js"
import type { Digest } from "../protocol/movement.js"
import { FULL_RING, type HashRange } from "../ring/hashRange.js"

export const digestEquals = (a: Digest, b: Digest): boolean => a.hi === b.hi && a.lo === b.lo

const EMPTY: Digest = { hi: 0, lo: 0 }

/**
 * The leaves, in ascending order, whose digests differ between two leaf
 * levels of trees over the same arc and depth (a leaf missing on their side
 * counts as empty). Anti-entropy compares whole leaf levels, not a top-down
 * walk: one round trip for the level instead of one per tree level.
 */
export const differingLeaves = (mine: ReadonlyArray<Digest>, theirs: ReadonlyArray<Digest>): Array<number> => {
  const out: Array<number> = []
  for (let leaf = 0; leaf < Math.max(mine.length, theirs.length); leaf++) {
    if (!digestEquals(mine[leaf] ?? EMPTY, theirs[leaf] ?? EMPTY)) out.push(leaf)
  }
  return out
}

/**
 * Deepest tree allowed: 2^21 nodes of 8 bytes is 16 MiB, and below it
 * `offset * leafCount` stays under 2^53, so leaf placement is exact.
 */
export const MAX_DEPTH = 20

const TWO_POW_32 = 2 ** 32

const rotl = (x: number, r: number): number => (x << r) | (x >>> (32 - r))

/** MurmurHash3's finaliser: every input bit affects every output bit. */
const fmix32 = (h: number): number => {
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  h ^= h >>> 16
  return h >>> 0
}

// Entry digests run two unrelated 32-bit hashes (MurmurHash3_x86_32 and the
// xxHash32 word step and avalanche) over the same words: with different round
// functions a collision crafted against one is unlikely to hold for the
// other. Not cryptographic: a client choosing keys could still search for one.
const MURMUR_C1 = 0xcc9e2d51
const MURMUR_C2 = 0x1b873593
const XX_P2 = 0x85ebca77
const XX_P3 = 0xc2b2ae3d
const XX_P4 = 0x27d4eb2f
const XX_P5 = 0x165667b1
const SEED_HI = 0x9747b28c
const SEED_LO = 0x5bd1e995
/** Words hashed after the key: its length, hlc (two), nodeId, generation, tombstone. */
const TAIL_WORDS = 6

const murmurStep = (h: number, word: number): number => {
  let k = Math.imul(word, MURMUR_C1)
  k = rotl(k, 15)
  k = Math.imul(k, MURMUR_C2)
  h ^= k
  h = rotl(h, 13)
  return (Math.imul(h, 5) + 0xe6546b64) | 0
}

const xxStep = (h: number, word: number): number => Math.imul(rotl((h + Math.imul(word, XX_P3)) | 0, 17), XX_P4)

const xxAvalanche = (h: number): number => {
  h ^= h >>> 15
  h = Math.imul(h, XX_P2)
  h ^= h >>> 13
  h = Math.imul(h, XX_P3)
  h ^= h >>> 16
  return h >>> 0
}

/**
 * Hash of one entry's identity and version: any change of key, version or
 * tombstone state changes it. The key is hashed as UTF-16 code units (two to
 * a word, no encoding step on the write path). `hlc` is a safe integer (see
 * clock/timestamp.ts), split into 32-bit halves by division because bit
 * operations would drop everything above bit 31. Replicas compare these
 * across processes and builds, so changing this function is a protocol change.
 */
export const entryDigest = (key: string, version: Version, tombstone: boolean): Digest => {
  let a = SEED_HI
  let b = (SEED_LO + XX_P5) | 0
  const length = key.length
  let i = 0
  for (; i + 1 < length; i += 2) {
    const word = key.charCodeAt(i) | (key.charCodeAt(i + 1) << 16)
    a = murmurStep(a, word)
    b = xxStep(b, word)
  }
  if (i < length) {
    const word = key.charCodeAt(i)
    a = murmurStep(a, word)
    b = xxStep(b, word)
  }
  // The length tells "a" from "a\0" (both pad to the same word); the fixed
  // number of words after it keeps the encoding unambiguous.
  const hlcHigh = Math.floor(version.hlc / TWO_POW_32)
  const hlcLow = version.hlc - hlcHigh * TWO_POW_32
  const tombstoneWord = tombstone ? 1 : 0
  a = murmurStep(a, length)
  b = xxStep(b, length)
  a = murmurStep(a, hlcHigh)
  b = xxStep(b, hlcHigh)
  a = murmurStep(a, hlcLow)
  b = xxStep(b, hlcLow)
  a = murmurStep(a, version.nodeId)
  b = xxStep(b, version.nodeId)
  a = murmurStep(a, version.generation)
  b = xxStep(b, version.generation)
  a = murmurStep(a, tombstoneWord)
  b = xxStep(b, tombstoneWord)
  // MurmurHash3 closes with the input's length in bytes.
  return { hi: fmix32(a ^ (4 * (((length + 1) >>> 1) + TAIL_WORDS))), lo: xxAvalanche(b) }
}

// Internal nodes: MurmurHash3_x86_128 over the one 16-byte block
// (left.hi, left.lo, right.hi, right.lo), keeping 64 of its 128 bits. Unlike
// XOR it is order-sensitive and non-linear, so equal changes in two leaves
// do not cancel. It is a bijection on 128 bits, so any collision comes only
// from the truncation to 64.
const M128_C1 = 0x239b961b
const M128_C2 = 0xab0e9789
const M128_C3 = 0x38b34ae5
const M128_C4 = 0xa1e38b93
const NODE_SEED = 0x6d65726b

/** Writes the digest of `node`'s two children into `node`. Two empty children make an empty node. */
const combineInto = (hi: Uint32Array, lo: Uint32Array, node: number): void => {
  const left = node << 1
  const k1 = hi[left]!
  const k2 = lo[left]!
  const k3 = hi[left + 1]!
  const k4 = lo[left + 1]!
  // Empty subtrees digest to zero at every level, so every empty tree has
  // the same root whatever its depth, and emptied subtrees return to it.
  if ((k1 | k2 | k3 | k4) === 0) {
    hi[node] = 0
    lo[node] = 0
    return
  }
  let h1 = NODE_SEED
  let h2 = NODE_SEED
  let h3 = NODE_SEED
  let h4 = NODE_SEED

  h1 ^= Math.imul(rotl(Math.imul(k1, M128_C1), 15), M128_C2)
  h1 = (Math.imul((rotl(h1, 19) + h2) | 0, 5) + 0x561ccd1b) | 0
  h2 ^= Math.imul(rotl(Math.imul(k2, M128_C2), 16), M128_C3)
  h2 = (Math.imul((rotl(h2, 17) + h3) | 0, 5) + 0x0bcaa747) | 0
  h3 ^= Math.imul(rotl(Math.imul(k3, M128_C3), 17), M128_C4)
  h3 = (Math.imul((rotl(h3, 15) + h4) | 0, 5) + 0x96cd1c35) | 0
  h4 ^= Math.imul(rotl(Math.imul(k4, M128_C4), 18), M128_C1)
  h4 = (Math.imul((rotl(h4, 13) + h1) | 0, 5) + 0x32ac3b17) | 0

  h1 ^= 16
  h2 ^= 16
  h3 ^= 16
  h4 ^= 16
  h1 = (h1 + h2 + h3 + h4) | 0
  h2 = (h2 + h1) | 0
  h3 = (h3 + h1) | 0
  h4 = (h4 + h1) | 0
  h1 = fmix32(h1)
  h2 = fmix32(h2)
  h3 = fmix32(h3)
  h4 = fmix32(h4)
  h1 = (h1 + h2 + h3 + h4) | 0
  h2 = (h2 + h1) | 0
  hi[node] = h1
  lo[node] = h2
}

const checkRange = (range: HashRange): void => {
  const { first, count } = range
  if (!Number.isInteger(first) || first < 0 || first >= TWO_POW_32) throw new RangeError(`bad range start ${first}`)
  if (!Number.isInteger(count) || count < 1 || count > TWO_POW_32) throw new RangeError(`bad range size ${count}`)
}

const leafIn = (keyHash32: number, leafCount: number, range: HashRange): number => {
  const offset = (keyHash32 - range.first) >>> 0
  if (offset >= range.count) throw new RangeError(`key hash ${keyHash32 >>> 0} is outside the tree's range`)
  // Exact: offset * leafCount < 2^32 * 2^MAX_DEPTH < 2^53.
  return Math.floor((offset * leafCount) / range.count)
}

/**
 * A Merkle tree over one arc of the ring, for anti-entropy between replicas.
 * Each leaf holds the XOR of its entries' digests, so adding and removing
 * are the same O(1) step and order does not matter; internal nodes are
 * recomputed lazily, only along paths that changed since the last read.
 *
 * The tree is a heap in two Uint32Arrays: node 1 is the root, node n has
 * children 2n and 2n + 1, and leaf i is node 2^depth + i. A dirty node's
 * ancestors are always dirty too, so marking stops at the first dirty
 * ancestor (O(1) amortised per write) and a read descends only into dirty
 * nodes (work proportional to what changed).
 *
 * The tree trusts its caller: removing a digest that was never added goes
 * unnoticed (it is a summary, not a set).
 */
export class MerkleTree {
  /** An empty tree's root, whatever its depth or range. */
  static readonly EMPTY_ROOT: Digest = Object.freeze({ hi: 0, lo: 0 })

  readonly leafCount: number
  private readonly hi: Uint32Array
  private readonly lo: Uint32Array
  /** Indexed by internal node (1 .. leafCount - 1); 1 when its digest is stale. */
  private readonly dirty: Uint8Array

  /**
   * `depth` levels below the root, so 2^depth leaves, over the key hashes of
   * `range`. Keys map to leaves in hash order, so a contiguous run of hashes
   * is a contiguous run of leaves.
   */
  constructor(readonly depth: number, readonly range: HashRange = FULL_RING) {
    if (!Number.isInteger(depth) || depth < 0 || depth > MAX_DEPTH) {
      throw new RangeError(`depth must be an integer from 0 to ${MAX_DEPTH}, got ${depth}`)
    }
    checkRange(range)
    this.range = { first: range.first, count: range.count }
    this.leafCount = 2 ** depth
    this.hi = new Uint32Array(2 * this.leafCount)
    this.lo = new Uint32Array(2 * this.leafCount)
    this.dirty = new Uint8Array(this.leafCount)
  }

  /**
   * The leaf a key hash belongs to in a tree of this depth over `range`
   * (by default the whole ring, where it is the top `depth` bits of the
   * hash). A hash outside the range is a caller bug and throws.
   */
  static leafOf(keyHash32: number, depth: number, range: HashRange = FULL_RING): number {
    if (!Number.isInteger(depth) || depth < 0 || depth > MAX_DEPTH) throw new RangeError(`bad depth ${depth}`)
    checkRange(range)
    return leafIn(keyHash32, 2 ** depth, range)
  }

  leafOf(keyHash32: number): number {
    return leafIn(keyHash32, this.leafCount, this.range)
  }

  /** Adds an entry's digest to its leaf. */
  add(keyHash32: number, digest: Digest): void {
    this.toggle(keyHash32, digest.hi, digest.lo)
  }

  /** Removes an entry's digest from its leaf: XOR makes this the same step as `add`. */
  remove(keyHash32: number, digest: Digest): void {
    this.toggle(keyHash32, digest.hi, digest.lo)
  }

  /**
   * Replaces `before` by `after` for one key in one step (an overwrite);
   * `undefined` stands for "absent", so this also adds and removes.
   */
  update(keyHash32: number, before: Digest | undefined, after: Digest | undefined): void {
    const deltaHi = (before === undefined ? 0 : before.hi) ^ (after === undefined ? 0 : after.hi)
    const deltaLo = (before === undefined ? 0 : before.lo) ^ (after === undefined ? 0 : after.lo)
    this.toggle(keyHash32, deltaHi, deltaLo)
  }

  /** The root digest. */
  root(): Digest {
    this.refresh()
    return { hi: this.hi[1]!, lo: this.lo[1]! }
  }

  /**
   * Digests of the nodes at `level` (0 is the root, `depth` the leaves)
   * with indices [from, to): what one round of the comparison protocol
   * sends. Bounds outside the level throw; check requests from peers first.
   */
  level(level: number, from: number, to: number): ReadonlyArray<Digest> {
    if (!Number.isInteger(level) || level < 0 || level > this.depth) throw new RangeError(`no level ${level}`)
    const width = 2 ** level
    if (!Number.isInteger(from) || !Number.isInteger(to) || from < 0 || from > to || to > width) {
      throw new RangeError(`bad node range [${from}, ${to}) at level ${level} of width ${width}`)
    }
    this.refresh()
    const out: Array<Digest> = []
    for (let node = width + from; node < width + to; node++) out.push({ hi: this.hi[node]!, lo: this.lo[node]! })
    return out
  }

  private toggle(keyHash32: number, deltaHi: number, deltaLo: number): void {
    // Check the hash even for a no-op, so a misplaced key is caught early.
    let node = this.leafCount + this.leafOf(keyHash32)
    if ((deltaHi | deltaLo) === 0) return
    this.hi[node] = this.hi[node]! ^ deltaHi
    this.lo[node] = this.lo[node]! ^ deltaLo
    const dirty = this.dirty
    node >>>= 1
    while (node !== 0 && dirty[node] === 0) {
      dirty[node] = 1
      node >>>= 1
    }
  }

  /** Recomputes every stale internal node; clean subtrees are not entered. */
  private refresh(): void {
    if (this.dirty[1] === 1) this.recompute(1)
  }

  private recompute(node: number): void {
    const left = 2 * node
    if (left < this.leafCount) {
      if (this.dirty[left] === 1) this.recompute(left)
      if (this.dirty[left + 1] === 1) this.recompute(left + 1)
    }
    combineInto(this.hi, this.lo, node)
    this.dirty[node] = 0
  }
}
