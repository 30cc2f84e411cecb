/**
 * FNV-1a over UTF-16 code units: a fast, allocation-free 32-bit hash for
 * picking a shard and naming a node. Not for the ring (that one must spread
 * vnodes evenly and is chosen there).
 */
export const fnv1a32 = (text: string): number => {
  let hash = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i)
    hash = Math.imul(hash, 0x01000193)
  }
  return hash >>> 0
}
