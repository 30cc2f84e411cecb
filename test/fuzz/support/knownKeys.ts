import { ClientError, Status } from "nice-grpc"
import { Consistency } from "../../../src/generated/pb/cache.js"
import type { FuzzCluster } from "./cluster.js"
import { RESERVED_PREFIX } from "./primitives.js"

/**
 * Keys written through pb.CacheService when a cluster starts and read back
 * through every node after each batch. They live under RESERVED_PREFIX,
 * which no arbitrary generates (`fuzzKey` steers away from it and no corpus
 * message holds it, so a mutation can not reach it): an authenticated
 * replica write may legitimately overwrite or delete any key a member names,
 * so the fuzz must never name these. A known key that reads back wrong is
 * then data the cluster lost or corrupted under the fuzz.
 */
interface KnownKey {
  readonly key: string
  readonly value?: string
  readonly valueBytes?: Buffer
}

export const KNOWN_KEYS: ReadonlyArray<KnownKey> = [
  { key: `${RESERVED_PREFIX}text`, value: "hello, fuzz" },
  { key: `${RESERVED_PREFIX}bytes`, valueBytes: Buffer.from([0, 1, 0x7f, 0x80, 0xfe, 0xff]) },
  { key: `${RESERVED_PREFIX}unicode-ключ-😀`, value: "ünïcødé 😀 \u0000 end" },
  { key: `${RESERVED_PREFIX}${"m".repeat(4096 - RESERVED_PREFIX.length)}`, value: "a key of MAX_KEY_SIZE bytes" },
  { key: `${RESERVED_PREFIX}large`, valueBytes: Buffer.alloc(64 * 1024, 0x5a) }
]

/** Writes every known key at ALL (so each replica holds it), never expiring. */
export const writeKnownKeys = async (cluster: FuzzCluster): Promise<void> => {
  for (const [i, known] of KNOWN_KEYS.entries()) {
    const client = cluster.cache(i % cluster.nodes.length)
    await client.set({ ...known, ttlSeconds: 0, consistency: Consistency.ALL }, { signal: AbortSignal.timeout(10_000) })
  }
}

const same = (known: KnownKey, got: { value?: string | undefined; valueBytes?: Buffer | undefined }) =>
  known.value !== undefined ? got.value === known.value : got.valueBytes !== undefined && Buffer.compare(got.valueBytes, known.valueBytes!) === 0

/** Reads every known key through every live node (QUORUM); what did not read back as written. */
export const checkKnownKeys = async (cluster: FuzzCluster, deadlineMs: number): Promise<Array<string>> => {
  const problems = await Promise.all(cluster.nodes.map(async (_, i) => {
    const client = cluster.cache(i)
    const found = await Promise.all(KNOWN_KEYS.map(async (known) => {
      const name = known.key.length > 60 ? `${known.key.slice(0, 40)}…(${known.key.length})` : known.key
      try {
        const got = await client.get({ key: known.key }, { signal: AbortSignal.timeout(deadlineMs) })
        return same(known, got) ? [] : [`node ${i}: ${name} read back ${JSON.stringify(got.value ?? `<${got.valueBytes?.length} bytes>`).slice(0, 80)}`]
      } catch (error) {
        const status = error instanceof ClientError ? `${Status[error.code]}: ${error.details}` : String(error)
        return [`node ${i}: ${name}: ${status}`]
      }
    }))
    return found.flat()
  }))
  return problems.flat()
}
