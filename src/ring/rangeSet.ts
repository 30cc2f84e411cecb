import type { HashRange } from "./hashRange.js"

/** A set of hash ranges (merged where they overlap) with a membership test in O(log n). */
export class RangeSet {
  /** Non-wrapping [start, end) intervals, sorted by start. */
  private readonly starts: Array<number> = []
  private readonly ends: Array<number> = []

  constructor(ranges: ReadonlyArray<HashRange>) {
    const intervals: Array<readonly [number, number]> = []
    for (const { first, count } of ranges) {
      if (count <= 0) continue
      const end = first + count
      if (end <= 2 ** 32) intervals.push([first, end])
      else intervals.push([first, 2 ** 32], [0, end - 2 ** 32])
    }
    intervals.sort((a, b) => a[0] - b[0])
    for (const [start, end] of intervals) {
      const last = this.ends.length - 1
      if (last >= 0 && start <= this.ends[last]!) this.ends[last] = Math.max(this.ends[last]!, end) // merge overlaps
      else {
        this.starts.push(start)
        this.ends.push(end)
      }
    }
  }

  has(hash: number): boolean {
    const h = hash >>> 0
    // The last interval starting at or before h is the only one that can hold it.
    let lo = 0
    let hi = this.starts.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (this.starts[mid]! <= h) lo = mid + 1
      else hi = mid
    }
    return lo > 0 && h < this.ends[lo - 1]!
  }
}
