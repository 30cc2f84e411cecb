/**
 * Versions order every write in the cluster: `(hlc, nodeId, generation)`,
 * compared in that order. The coordinator's hybrid logical clock gives `hlc`;
 * `generation` is new at every process start, so a node that restarts with
 * its wall clock set back never hands out a version it used before.
 */
export interface Version {
  readonly hlc: number
  readonly nodeId: number
  readonly generation: number
}

/** The version below every real one: what an empty shard has forgotten. */
export const ZERO: Version = { hlc: 0, nodeId: 0, generation: 0 }

/** Negative, zero or positive as `a` is older than, equal to or newer than `b`. */
export const compare = (a: Version, b: Version): number =>
  a.hlc !== b.hlc
    ? a.hlc - b.hlc
    : a.nodeId !== b.nodeId
    ? a.nodeId - b.nodeId
    : a.generation - b.generation

export const max = (a: Version, b: Version): Version => (compare(a, b) >= 0 ? a : b)

/** The bare version: keeps nothing of the (larger) object it was read from alive, and is what goes on the wire. */
export const copy = (v: Version): Version => ({ hlc: v.hlc, nodeId: v.nodeId, generation: v.generation })
