import * as V from "../clock/version.js"
import type { Version } from "../clock/version.js"
import * as pb from "../generated/cluster/v1/cluster.js"
import type { MemberStatus, MemberUpdate } from "../membership/swim.js"
import { NOT_READY, type ReplicaReply, type ReplicaRequest } from "../replication/protocol.js"
import type { Value, Write } from "../store/entry.js"
import type { ArcDigests, PullChunk } from "./PeerClient.js"

/**
 * Conversions between the domain types and `cluster.v1` messages, used by
 * both ends of a peer call. Nothing outside peer/ and grpc/ sees these.
 */

const toPbVersion = (v: Version) => ({ hlc: v.hlc, nodeId: v.nodeId, generation: v.generation })
const fromPbVersion = (v: { hlc: number; nodeId: number; generation: number } | undefined): Version =>
  v === undefined ? V.ZERO : { hlc: v.hlc, nodeId: v.nodeId, generation: v.generation }
const payload = (value: Value) =>
  typeof value === "string" ? { value } : { valueBytes: Buffer.from(value.buffer, value.byteOffset, value.byteLength) }

const encodeWrite = (write: Write): pb.ReplicaWrite => ({
  version: toPbVersion(write.version),
  ...(write.value === undefined ? {} : payload(write.value)),
  tombstone: write.value === undefined,
  expiresAtMs: write.expiresAtMs
})

const decodeWrite = (write: pb.ReplicaWrite): Write => ({
  version: fromPbVersion(write.version),
  value: write.tombstone ? undefined : (write.value ?? write.valueBytes ?? ""),
  expiresAtMs: write.expiresAtMs
})

export const encodeRequest = ({ key, write, traceparent }: ReplicaRequest): pb.ReplicaOp => ({
  key,
  write: write === undefined ? undefined : encodeWrite(write),
  traceparent: traceparent ?? ""
})

export const decodeRequest = (op: pb.ReplicaOp): ReplicaRequest => ({
  key: op.key,
  write: op.write === undefined ? undefined : decodeWrite(op.write),
  traceparent: op.traceparent === "" ? undefined : op.traceparent
})

export const encodePullChunk = (chunk: PullChunk): pb.PullResponse => ({
  syncedMembers: [...chunk.syncedMembers],
  records: chunk.records.map(({ key, write }) => ({ key, write: encodeWrite(write) }))
})

/** Records without a write are dropped: a peer of a newer version may send what this one cannot read. */
export const decodePullChunk = (response: pb.PullResponse): PullChunk => ({
  syncedMembers: response.syncedMembers,
  records: response.records.flatMap(({ key, write }) => (write === undefined ? [] : [{ key, write: decodeWrite(write) }]))
})

const K = pb.ReplicaResult_Kind
const base = { version: undefined, expiresAtMs: 0, existed: false }

export const encodeReply = (reply: ReplicaReply): pb.ReplicaResult => {
  switch (reply._tag) {
    case "Found":
      return { ...base, kind: K.KIND_FOUND, version: toPbVersion(reply.version), ...payload(reply.value), expiresAtMs: reply.expiresAtMs }
    case "Deleted":
      return { ...base, kind: K.KIND_DELETED, version: toPbVersion(reply.version) }
    case "Absent":
      return { ...base, kind: K.KIND_ABSENT, version: toPbVersion(reply.watermark) }
    case "Applied":
      return { ...base, kind: K.KIND_APPLIED, existed: reply.existed }
    case "Stale":
      return { ...base, kind: K.KIND_STALE, version: toPbVersion(reply.current) }
    case "NotReady":
      return { ...base, kind: K.KIND_NOT_READY }
  }
}

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
    default:
      return undefined
  }
}

const STATUS_TO_PB: Record<MemberStatus, pb.MemberStatus> = {
  alive: pb.MemberStatus.MEMBER_STATUS_ALIVE,
  suspect: pb.MemberStatus.MEMBER_STATUS_SUSPECT,
  dead: pb.MemberStatus.MEMBER_STATUS_DEAD,
  left: pb.MemberStatus.MEMBER_STATUS_LEFT
}
const STATUS_FROM_PB: ReadonlyArray<MemberStatus> = ["alive", "suspect", "dead", "left"]

export const encodeMember = (m: MemberUpdate): pb.Member => ({
  address: m.address,
  incarnation: m.incarnation,
  status: STATUS_TO_PB[m.status]
})

/** undefined for a status this version does not understand. */
export const decodeMember = (m: pb.Member): MemberUpdate | undefined => {
  const status = STATUS_FROM_PB[m.status]
  return status === undefined || m.address === "" ? undefined : { address: m.address, incarnation: m.incarnation, status }
}

export const decodeMembers = (members: ReadonlyArray<pb.Member>): Array<MemberUpdate> => {
  const out: Array<MemberUpdate> = []
  for (const m of members) {
    const decoded = decodeMember(m)
    if (decoded !== undefined) out.push(decoded)
  }
  return out
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
