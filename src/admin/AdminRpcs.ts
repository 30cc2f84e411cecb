import { Rpc, RpcGroup } from "@effect/rpc"
import { Schema } from "effect"

/** The admin API's path on the admin HTTP server. */
export const ADMIN_RPC_PATH = "/rpc"

/** A request the admin API cannot answer as asked (an empty key, ...). */
export class AdminError extends Schema.TaggedError<AdminError>()("AdminError", {
  message: Schema.String
}) {}

export const MemberState = Schema.Literal("alive", "suspect", "dead", "left")

/** One member as this node's SWIM table sees it. */
export class MemberView extends Schema.Class<MemberView>("MemberView")({
  address: Schema.String,
  state: MemberState,
  incarnation: Schema.Number,
  /** Whether the member is on this node's ring (a dead member stays on it until DEAD_NODE_TIMEOUT). */
  onRing: Schema.Boolean,
  /** Milliseconds since its state last changed here. */
  sinceMs: Schema.Number
}) {}

/** This node and its view of the cluster. */
export class NodeStatus extends Schema.Class<NodeStatus>("NodeStatus")({
  address: Schema.String,
  version: Schema.String,
  uptimeSeconds: Schema.Number,
  /** What `/readyz` answers: joined and holding its ranges. */
  ready: Schema.Boolean,
  readiness: Schema.String,
  /** Whether it votes on every key it replicates on its current ring. */
  votingOnCurrentRing: Schema.Boolean,
  ringEpoch: Schema.Number,
  ringMembers: Schema.Array(Schema.String),
  replicationFactor: Schema.Number,
  members: Schema.Array(MemberView),
  entries: Schema.Number,
  bytes: Schema.Number
}) {}

/** A member's part of the ring. */
export class RingMember extends Schema.Class<RingMember>("RingMember")({
  address: Schema.String,
  /** Share of the hash circle it owns as primary. */
  primaryShare: Schema.Number,
  /** Share of the hash circle it replicates (primary or not); about N / members. */
  replicaShare: Schema.Number,
  tokens: Schema.Number
}) {}

/** A run of the hash circle with one preference list: keys hashing into (start, end] live on `replicas`. */
export class RingRange extends Schema.Class<RingRange>("RingRange")({
  start: Schema.Number,
  end: Schema.Number,
  replicas: Schema.Array(Schema.String)
}) {}

export class RingView extends Schema.Class<RingView>("RingView")({
  /** This node's count of ring changes since it started (local; compare `digest` across nodes). */
  epoch: Schema.Number,
  /** A hash of the member list: nodes that route the same way show the same digest. */
  digest: Schema.String,
  replicationFactor: Schema.Number,
  vnodes: Schema.Number,
  /** Whether this node holds in full what it replicates on this ring. */
  votingOnCurrentRing: Schema.Boolean,
  members: Schema.Array(RingMember),
  /** Every range with its replicas; only when asked for (there are about members × VNODES of them). */
  ranges: Schema.optional(Schema.Array(RingRange))
}) {}

export class KeyOwner extends Schema.Class<KeyOwner>("KeyOwner")({
  address: Schema.String,
  state: Schema.String,
  primary: Schema.Boolean
}) {}

export class KeyOwners extends Schema.Class<KeyOwners>("KeyOwners")({
  key: Schema.String,
  /** The key's ring position (hex): what spans show instead of the key. */
  hash: Schema.String,
  owners: Schema.Array(KeyOwner)
}) {}

/** The local store and process. */
export class LocalStats extends Schema.Class<LocalStats>("LocalStats")({
  shards: Schema.Number,
  entries: Schema.Number,
  capacity: Schema.Number,
  bytes: Schema.Number,
  maxMemoryBytes: Schema.Number,
  tombstones: Schema.Number,
  hits: Schema.Number,
  misses: Schema.Number,
  evictions: Schema.Number,
  expirations: Schema.Number,
  tombstonesCollected: Schema.Number,
  residentBytes: Schema.Number,
  heapUsedBytes: Schema.Number
}) {}

export class LeaveStarted extends Schema.Class<LeaveStarted>("LeaveStarted")({
  address: Schema.String,
  message: Schema.String
}) {}

/**
 * The admin API (`@effect/rpc` over HTTP, JSON). Read-only views of one
 * node and its view of the cluster, plus `Leave`, the same graceful exit as
 * SIGTERM: drain, hand off, leave.
 */
export class AdminRpcs extends RpcGroup.make(
  Rpc.make("Status", { success: NodeStatus }),
  Rpc.make("Members", { success: Schema.Array(MemberView) }),
  Rpc.make("Ring", { payload: { ranges: Schema.Boolean }, success: RingView }),
  Rpc.make("Owners", { payload: { key: Schema.String }, success: KeyOwners, error: AdminError }),
  Rpc.make("Stats", { success: LocalStats }),
  Rpc.make("Leave", { success: LeaveStarted })
) {}
