/** Small exact data structures the checker's search needs. */

export const insertSorted = (sorted: ReadonlyArray<number>, value: number): Array<number> => {
  let at = sorted.length
  while (at > 0 && sorted[at - 1]! > value) at--
  return [...sorted.slice(0, at), value, ...sorted.slice(at)]
}

/**
 * Open-addressing hash set of int tuples stored flat in typed arrays: several
 * times faster and smaller than a Set of strings, and exact (tuples are
 * compared on a hash match, so a collision never prunes an unexplored state).
 */
export class TupleSet {
  size = 0
  private slots: Int32Array = new Int32Array(1 << 12) // entry index + 1; 0 = empty
  private hashes: Int32Array = new Int32Array(1 << 11)
  private starts: Int32Array = new Int32Array(1 << 11)
  private data: Int32Array = new Int32Array(1 << 14) // per entry: length, then the ints
  private used = 0

  /** Adds the first `length` ints of tuple; false when they were already there. */
  add(tuple: Int32Array, length: number): boolean {
    const h = hashInts(tuple, length)
    const mask = this.slots.length - 1
    let slot = h & mask
    for (let s = this.slots[slot]!; s !== 0; s = this.slots[slot]!) {
      if (this.hashes[s - 1] === h && this.matches(s - 1, tuple, length)) return false
      slot = (slot + 1) & mask
    }
    const entry = this.size
    if (entry === this.hashes.length) {
      this.hashes = grow(this.hashes, entry + 1)
      this.starts = grow(this.starts, entry + 1)
    }
    if (this.used + length + 1 > this.data.length) this.data = grow(this.data, this.used + length + 1)
    this.starts[entry] = this.used
    this.data[this.used] = length
    this.data.set(tuple.subarray(0, length), this.used + 1)
    this.used += length + 1
    this.hashes[entry] = h
    this.slots[slot] = entry + 1
    this.size++
    if (this.size * 2 > this.slots.length) this.rehash()
    return true
  }

  private matches(entry: number, tuple: Int32Array, length: number): boolean {
    const start = this.starts[entry]!
    if (this.data[start] !== length) return false
    for (let i = 0; i < length; i++) if (this.data[start + 1 + i] !== tuple[i]) return false
    return true
  }

  private rehash(): void {
    const slots = new Int32Array(this.slots.length * 2)
    const mask = slots.length - 1
    for (let entry = 0; entry < this.size; entry++) {
      let slot = this.hashes[entry]! & mask
      while (slots[slot] !== 0) slot = (slot + 1) & mask
      slots[slot] = entry + 1
    }
    this.slots = slots
  }
}

const grow = (array: Int32Array, minLength: number): Int32Array => {
  const grown = new Int32Array(Math.max(minLength, array.length * 2))
  grown.set(array)
  return grown
}

/** MurmurHash3 (x86, 32-bit) over ints. */
const hashInts = (ints: Int32Array, length: number): number => {
  let h = length
  for (let i = 0; i < length; i++) {
    let k = Math.imul(ints[i]!, 0xcc9e2d51)
    k = Math.imul((k << 15) | (k >>> 17), 0x1b873593)
    h ^= k
    h = (Math.imul((h << 13) | (h >>> 19), 5) + 0xe6546b64) | 0
  }
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  h = Math.imul(h, 0xc2b2ae35)
  return h ^ (h >>> 16)
}

