import { Schema } from "effect"
import type { HashRange } from "../ring/hashRange.js"
import type { Write } from "../store/entry.js"
import type { BucketFloors } from "../store/forgetting.js"

/** One key's record as a pull copies it. */
export interface PulledRecord {
  readonly key: string
  readonly write: Write
}

/**
 * A request to copy the records of the keys whose hash lies in `ranges`,
 * answered only at ring epoch `epoch` (see AntiEntropyService.Pull).
 */
export interface PullRequest {
  readonly requester: string
  readonly epoch: number
  readonly ranges: ReadonlyArray<HashRange>
  /** Whether the answer also carries what the source forgot (a range moving to a new owner). */
  readonly floors?: boolean | undefined
}

/** Floors per message at most. */
export const FLOORS_PER_CHUNK = 4096

/** One piece of a pull's answer: floors come last, after every record. */
export interface PullChunk {
  readonly records: ReadonlyArray<PulledRecord>
  readonly floors?: ReadonlyArray<BucketFloors> | undefined
}

/** A 64-bit digest as two unsigned 32-bit halves (JS bit operations are 32-bit). */
export interface Digest {
  readonly hi: number
  readonly lo: number
}

/** Merkle digests of some ring arcs at one tree level, asked of a co-replica at the same epoch. */
export interface DigestsRequest {
  readonly epoch: number
  /** Arcs named by the token that ends them. */
  readonly arcs: ReadonlyArray<number>
  readonly level: number
}

/**
 * Arcs one Digests request may name at `level`: as many as fit an answer of
 * `budgetBytes` (each arc answers 2^level digests of up to 10 bytes). The
 * asker splits its arcs to fit; the answerer refuses more before building
 * anything.
 */
export const maxDigestArcs = (level: number, budgetBytes: number): number =>
  Math.max(1, Math.floor(budgetBytes / (16 + 10 * 2 ** level)))

/** One arc's digests at the level asked; undefined when the peer does not replicate the arc. */
export interface ArcDigests {
  readonly arc: number
  readonly digests: ReadonlyArray<Digest> | undefined
}

/**
 * A pull or a digest request refused because this node is not at the
 * asker's ring epoch: the asker learns the newer ring (or waits for this
 * node to) and asks again. Over gRPC it is FAILED_PRECONDITION (status.ts).
 */
export class EpochMismatch extends Schema.TaggedError<EpochMismatch>()("EpochMismatch", {
  node: Schema.String,
  at: Schema.Number,
  asked: Schema.Number,
  what: Schema.Literal("pull", "digests")
}) {
  override get message(): string {
    return `${this.node} cannot answer ${this.what} for epoch ${this.asked} now (it is at ${this.at})`
  }
}
