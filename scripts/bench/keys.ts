/**
 * Key choice for the Node-client workloads: uniform, or zipfian (YCSB's
 * skew, s = 0.99: a few keys take most requests). Pure and seeded.
 */
import { prng } from "../../testkit/random.js"

export type Distribution = "uniform" | "zipfian"

const ZIPF_S = 0.99

/** A seeded generator of numbers in [0, 1): the fault suite's. */
export const seeded = prng

/** Draws key indexes in [0, keys) with the given distribution. */
export const keyChooser = (keys: number, distribution: Distribution, random: () => number): (() => number) => {
  if (distribution === "uniform") return () => Math.floor(random() * keys)
  // Cumulative weights 1/k^s, searched by bisection: O(log keys) a draw.
  const cdf = new Float64Array(keys)
  let total = 0
  for (let k = 0; k < keys; k++) cdf[k] = total += 1 / Math.pow(k + 1, ZIPF_S)
  return () => {
    const target = random() * total
    let lo = 0
    let hi = keys - 1
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (cdf[mid]! < target) lo = mid + 1
      else hi = mid
    }
    return lo
  }
}

/** The name of key `i` in every bench workload. */
export const keyName = (i: number): string => `bench:${i}`
