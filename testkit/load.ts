import { connect } from "./clients.js"

/** What a steady load saw: the writes acknowledged, and how many were not. */
export interface LoadResult {
  readonly acked: ReadonlyMap<string, string>
  readonly notAcked: number
}

/**
 * A steady client load: one writer per address, each writing fresh keys one
 * after another (each key once, so an acknowledged key has exactly one
 * value to find later). Errors are counted, not thrown: a write that fails
 * may or may not have taken effect, and the check only needs the acked ones.
 */
export const steadyLoad = (addresses: ReadonlyArray<string>, deadlineMs = 2_000) => {
  let stopped = false
  const acked = new Map<string, string>()
  let notAcked = 0
  const writers = addresses.map(async (address, w) => {
    const client = connect(address)
    try {
      for (let n = 0; !stopped; n++) {
        const key = `load-${w}-${n}`
        const value = `value-of-${key}`
        try {
          await client.cache.set({ key, value }, { signal: AbortSignal.timeout(deadlineMs) })
          acked.set(key, value)
        } catch {
          notAcked++
        }
      }
    } finally {
      client.close()
    }
  })
  return {
    /** Writes acknowledged so far. */
    ackedCount: () => acked.size,
    stop: async (): Promise<LoadResult> => {
      stopped = true
      await Promise.all(writers)
      return { acked, notAcked }
    }
  }
}

/** Reads every acknowledged key through `address` at QUORUM; returns the keys missing or wrong. */
export const missingWrites = async (address: string, acked: ReadonlyMap<string, string>): Promise<Array<string>> => {
  const client = connect(address)
  const missing: Array<string> = []
  try {
    const entries = [...acked]
    for (let i = 0; i < entries.length; i += 100) {
      await Promise.all(entries.slice(i, i + 100).map(async ([key, value]) => {
        try {
          const read = await client.cache.get({ key })
          if (read.value !== value) missing.push(`${key}: read ${JSON.stringify(read.value)}`)
        } catch (error) {
          missing.push(`${key}: ${error instanceof Error ? error.message : String(error)}`)
        }
      }))
    }
  } finally {
    client.close()
  }
  return missing
}

/** Resolves once `condition` holds (checked every 50 ms); rejects after `timeoutMs`. */
export const waitUntil = async (condition: () => boolean, timeoutMs: number): Promise<void> => {
  const started = Date.now()
  while (!condition()) {
    if (Date.now() - started > timeoutMs) throw new Error(`condition not met within ${timeoutMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}
