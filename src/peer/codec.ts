import * as V from "../clock/version.js"
import type { Version } from "../clock/version.js"
import * as pb from "../generated/cluster/v1/cluster.js"
import { type ArcDigests, FLOORS_PER_CHUNK, type PullChunk } from "../protocol/movement.js"
import { FORGETTING_BUCKETS } from "../store/forgetting.js"
import { NOT_READY, type ReplicaReply, type ReplicaRequest } from "../protocol/replica.js"
import type { Value, Write } from "../store/entry.js"

/**
 * Conversions between the domain types and `cluster.v1` messages, used by
 * both ends of a peer call. Nothing outside peer/ and grpc/ sees these.
 */

const fromPbVersion = (v: { hlc: number; nodeId: number; generation: number } | undefined): Version =>
  v === undefined ? V.ZERO : { hlc: v.hlc, nodeId: v.nodeId, generation: v.generation }
const payload = (value: Value) =>
  typeof value === "string" ? { value } : { valueBytes: Buffer.from(value.buffer, value.byteOffset, value.byteLength) }

const encodeWrite = (write: Write): pb.ReplicaWrite => ({
  version: V.copy(write.version),
  ...(write.value === undefined ? {} : payload(write.value)),
  tombstone: write.value === undefined,
  expiresAtMs: write.expiresAtMs
})

const decodeWrite = (write: pb.ReplicaWrite): Write => ({
  version: fromPbVersion(write.version),
  value: write.tombstone ? undefined : (write.value ?? write.valueBytes ?? ""),
  expiresAtMs: write.expiresAtMs
})

export const encodeRequest = ({ key, write, epoch, traceparent }: ReplicaRequest): pb.ReplicaOp => ({
  key,
  write: write === undefined ? undefined : encodeWrite(write),
  traceparent: traceparent ?? "",
  epoch
})

export const decodeRequest = (op: pb.ReplicaOp): ReplicaRequest => ({
  key: op.key,
  write: op.write === undefined ? undefined : decodeWrite(op.write),
  epoch: op.epoch,
  traceparent: op.traceparent === "" ? undefined : op.traceparent
})

export const encodePullChunk = (chunk: PullChunk): pb.PullResponse => ({
  records: chunk.records.map(({ key, write }) => ({ key, write: encodeWrite(write) })),
  floors: (chunk.floors ?? []).map(({ bucket, forgotten, collected }) => ({
    bucket,
    forgotten: V.copy(forgotten),
    collected: V.copy(collected)
  }))
})

/**
 * Records without a write are dropped: a peer of a newer version may send
 * what this one cannot read. So are floors beyond the bucket range, and any
 * floors past FLOORS_PER_CHUNK.
 */
export const decodePullChunk = (response: pb.PullResponse): PullChunk => ({
  records: response.records.flatMap(({ key, write }) => (write === undefined ? [] : [{ key, write: decodeWrite(write) }])),
  floors: response.floors.length === 0 ? undefined : response.floors.slice(0, FLOORS_PER_CHUNK)
    .filter(({ bucket }) => bucket < FORGETTING_BUCKETS)
    .map(({ bucket, forgotten, collected }) => ({ bucket, forgotten: fromPbVersion(forgotten), collected: fromPbVersion(collected) }))
})

const K = pb.ReplicaResult_Kind
const base = { version: undefined, expiresAtMs: 0, existed: false, epoch: 0, reason: "" }

export const encodeReply = (reply: ReplicaReply): pb.ReplicaResult => {
  switch (reply._tag) {
    case "Found":
      return { ...base, kind: K.KIND_FOUND, version: V.copy(reply.version), ...payload(reply.value), expiresAtMs: reply.expiresAtMs }
    case "Deleted":
      return { ...base, kind: K.KIND_DELETED, version: V.copy(reply.version) }
    case "Absent":
      return { ...base, kind: K.KIND_ABSENT, version: V.copy(reply.watermark) }
    case "Applied":
      return { ...base, kind: K.KIND_APPLIED, existed: reply.existed }
    case "Stale":
      return { ...base, kind: K.KIND_STALE, version: V.copy(reply.current) }
    case "NotReady":
      return { ...base, kind: K.KIND_NOT_READY }
    case "WrongEpoch":
      return { ...base, kind: K.KIND_WRONG_EPOCH, epoch: reply.epoch }
    case "Refused":
      return { ...base, kind: K.KIND_REFUSED, reason: reply.reason }
  }
}

/** About what a result costs on the wire: its value or reason, version and framing. */
export const resultBytes = (result: pb.ReplicaResult): number =>
  (result.value === undefined ? 0 : Buffer.byteLength(result.value, "utf8")) + (result.valueBytes?.byteLength ?? 0) +
  result.reason.length * 3 + 48

/** undefined for a result this version does not understand. */
export const decodeReply = (result: pb.ReplicaResult): ReplicaReply | undefined => {
  switch (result.kind) {
    case K.KIND_FOUND:
      return {
        _tag: "Found",
        version: fromPbVersion(result.version),
        value: result.value ?? result.valueBytes ?? "",
        expiresAtMs: result.expiresAtMs
      }
    case K.KIND_DELETED:
      return { _tag: "Deleted", version: fromPbVersion(result.version) }
    case K.KIND_ABSENT:
      return { _tag: "Absent", watermark: fromPbVersion(result.version) }
    case K.KIND_APPLIED:
      return { _tag: "Applied", existed: result.existed }
    case K.KIND_STALE:
      return { _tag: "Stale", current: fromPbVersion(result.version) }
    case K.KIND_NOT_READY:
      return NOT_READY
    case K.KIND_WRONG_EPOCH:
      return { _tag: "WrongEpoch", epoch: result.epoch }
    case K.KIND_REFUSED:
      return { _tag: "Refused", reason: result.reason.slice(0, 300) }
    default:
      return undefined
  }
}

export const encodeArcDigests = ({ arc, digests }: ArcDigests): pb.ArcDigests => ({
  arc,
  held: digests !== undefined,
  hi: digests?.map((d) => d.hi) ?? [],
  lo: digests?.map((d) => d.lo) ?? []
})

export const decodeArcDigests = (arc: pb.ArcDigests): ArcDigests => ({
  arc: arc.arc,
  digests: arc.held ? arc.hi.map((hi, i) => ({ hi, lo: arc.lo[i] ?? 0 })) : undefined
})
