import type { HashRing } from "../ring/HashRing.js"
import { FULL_RING, type HashRange, tokenArc } from "../ring/hashRange.js"
import type { Digest } from "../protocol/movement.js"
import { MerkleTree } from "./MerkleTree.js"

/** Levels below each arc's root: 2^6 = 64 leaves per arc. */
export const ARC_TREE_DEPTH = 6

/**
 * One Merkle tree per ring arc that `self` replicates on `ring`. Every
 * replica of an arc should hold the same records for it, so two replicas
 * compare arc by arc, root first, then the leaves of the arcs that differ.
 * Trees are updated on every store change; a ring change builds a new set.
 */
export class ArcTrees {
  private readonly trees = new Map<number, MerkleTree>()

  constructor(readonly ring: HashRing, readonly self: string, readonly depth = ARC_TREE_DEPTH) {
    const positions = ring.positions
    const n = positions.length
    for (let i = 0; i < n; i++) {
      const token = positions[i]!
      const previous = positions[(i + n - 1) % n]!
      // Equal neighbouring tokens make an empty arc (except a one-token ring: the whole circle).
      if (n > 1 && previous === token) continue
      if (!ring.replicates(self, token)) continue
      this.trees.set(token, new MerkleTree(depth, n === 1 ? FULL_RING : tokenArc(previous, token)))
    }
  }

  /** The token that ends the arc holding `keyHash`. */
  arcOf(keyHash: number): number {
    const positions = this.ring.positions
    let lo = 0
    let hi = positions.length
    const h = keyHash >>> 0
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (positions[mid]! < h) lo = mid + 1
      else hi = mid
    }
    return positions[lo === positions.length ? 0 : lo]!
  }

  /** Records a change of one key's digest (undefined: nothing held). */
  update(keyHash: number, before: Digest | undefined, after: Digest | undefined): void {
    if (this.trees.size === 0) return
    this.trees.get(this.arcOf(keyHash))?.update(keyHash, before, after)
  }

  tree(arc: number): MerkleTree | undefined {
    return this.trees.get(arc)
  }

  /** Arcs that both `self` and `peer` replicate. */
  sharedWith(peer: string): Array<number> {
    return [...this.trees.keys()].filter((arc) => this.ring.replicates(peer, arc))
  }
}

/** The hashes that fall in leaf `leaf` of `tree` (the inverse of `MerkleTree.leafOf`). */
export const leafRange = (tree: MerkleTree, leaf: number): HashRange => {
  const { first, count } = tree.range
  const start = Math.ceil((leaf * count) / tree.leafCount)
  const end = Math.ceil(((leaf + 1) * count) / tree.leafCount)
  return { first: (first + start) % 2 ** 32, count: end - start }
}
