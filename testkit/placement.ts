import { createChannel, createClient } from "nice-grpc"
import { digestEquals, entryDigest, MerkleTree } from "../src/antientropy/MerkleTree.js"
import * as V from "../src/clock/version.js"
import { defaults } from "../src/config/NodeConfig.js"
import { AntiEntropyServiceDefinition, PlacementServiceDefinition } from "../src/generated/cluster/v1/cluster.js"
import { HashRing } from "../src/ring/HashRing.js"
import { loadXxHash32 } from "../src/ring/keyHash.js"

/** What one node holds for one key. */
interface Held {
  readonly version: V.Version
  readonly tombstone: boolean
}

/** The agreed ring epoch and members a node is at, from its PlacementService. */
export const agreedRing = async (address: string): Promise<{ readonly epoch: number; readonly members: ReadonlyArray<string> }> => {
  const channel = createChannel(address)
  try {
    const hello = await createClient(PlacementServiceDefinition, channel).hello({ from: { address: "127.0.0.1:1", generation: 1 }, seeds: [] })
    return { epoch: hello.config?.epoch ?? 0, members: hello.config?.members.map((m) => m.address) ?? [] }
  } finally {
    channel.close()
  }
}

/** Everything a node holds, read through its own AntiEntropy.Pull over the whole circle at its current epoch. */
export const inventory = async (address: string): Promise<Map<string, Held>> => {
  const { epoch } = await agreedRing(address)
  const channel = createChannel(address)
  try {
    const client = createClient(AntiEntropyServiceDefinition, channel)
    const held = new Map<string, Held>()
    {
      for await (const chunk of client.pull({ requester: address, epoch, ranges: [{ first: 0, count: 2 ** 32 }] })) {
        for (const record of chunk.records) {
          const v = record.write?.version
          held.set(record.key, {
            version: { hlc: v?.hlc ?? 0, nodeId: v?.nodeId ?? 0, generation: v?.generation ?? 0 },
            tombstone: record.write?.tombstone ?? false
          })
        }
      }
    }
    return held
  } finally {
    channel.close()
  }
}

/** Merkle tree depth of the placement check: 2^10 leaves. */
const DEPTH = 10

/**
 * Checks that every key is held by exactly its owners on the ring of
 * `members` (default VNODES and REPLICATION_FACTOR), and that any two
 * members agree on the keys they share: equal Merkle roots over them.
 * Returns the problems found (empty when placement is right).
 */
export const placementProblems = async (members: ReadonlyArray<string>): Promise<Array<string>> => {
  const hash = await loadXxHash32()
  const ring = HashRing.build(members, { vnodes: defaults.vnodes, replicas: defaults.replicationFactor, hash })
  const holdings = new Map<string, Map<string, Held>>()
  for (const member of members) {
    const agreed = await agreedRing(member)
    if ([...agreed.members].sort().join() !== [...members].sort().join()) return [`${member} is at epoch ${agreed.epoch} with [${agreed.members.join(" ")}]`]
    holdings.set(member, await inventory(member))
  }
  const problems: Array<string> = []
  const keys = new Set<string>()
  for (const held of holdings.values()) for (const key of held.keys()) keys.add(key)
  for (const key of keys) {
    const owners = ring.preferenceList(hash(key))
    const holders = members.filter((m) => holdings.get(m)!.has(key))
    const extra = holders.filter((m) => !owners.includes(m))
    const missing = owners.filter((m) => !holders.includes(m))
    if (extra.length > 0 || missing.length > 0) {
      problems.push(`${key}: held by [${holders.join(" ")}], owned by [${owners.join(" ")}]`)
    }
    if (problems.length >= 10) return problems
  }
  // Pairwise: the trees of the keys two members both own must be equal.
  for (const a of members) {
    for (const b of members) {
      if (a >= b) continue
      const trees = [new MerkleTree(DEPTH), new MerkleTree(DEPTH)] as const
      for (const key of keys) {
        const owners = ring.preferenceList(hash(key))
        if (!owners.includes(a) || !owners.includes(b)) continue
        ;[a, b].forEach((member, i) => {
          const held = holdings.get(member)!.get(key)
          if (held !== undefined) trees[i]!.add(hash(key), entryDigest(key, held.version, held.tombstone))
        })
      }
      if (!digestEquals(trees[0].root(), trees[1].root())) problems.push(`${a} and ${b} disagree on the keys they share`)
    }
  }
  return problems
}

/** Polls `placementProblems` until it finds none; rejects with the last problems after `timeoutMs`. */
export const awaitPlacement = async (members: ReadonlyArray<string>, timeoutMs: number): Promise<number> => {
  const started = Date.now()
  let problems: Array<string> = []
  while (Date.now() - started < timeoutMs) {
    problems = await placementProblems(members).catch((error: unknown) => [String(error)])
    if (problems.length === 0) return Date.now() - started
    await new Promise((resolve) => setTimeout(resolve, 500))
  }
  throw new Error(`placement not reached within ${timeoutMs} ms:\n${problems.join("\n")}`)
}
