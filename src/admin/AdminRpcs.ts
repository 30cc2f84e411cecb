import { Rpc, RpcGroup } from "@effect/rpc"
import { Schema } from "effect"

/** The admin API's path on the admin HTTP server. */
export const ADMIN_RPC_PATH = "/rpc"

/** A request the admin API cannot answer as asked (an empty key, ...). */
export class AdminError extends Schema.TaggedError<AdminError>()("AdminError", {
  message: Schema.String
}) {}

export const MemberState = Schema.Literal("alive", "suspect", "dead", "left")

/** One member of the agreed ring as this node's SWIM table sees it. */
export class MemberView extends Schema.Class<MemberView>("MemberView")({
  address: Schema.String,
  /** The process generation the ring names at this address. */
  generation: Schema.Number,
  state: MemberState,
  incarnation: Schema.Number,
  /** Whether it is on the ring of the current configuration (a member being removed is only on the previous one). */
  onRing: Schema.Boolean,
  /** Milliseconds since its state last changed here. */
  sinceMs: Schema.Number
}) {}

/** Where a node stands in ring agreement. */
export const RingStatus = Schema.Literal("forming", "joining", "member", "leaving", "left")
export const RingPhase = Schema.Literal("stable", "writeBoth", "readNew")

/** This node and its view of the cluster. */
export class NodeStatus extends Schema.Class<NodeStatus>("NodeStatus")({
  address: Schema.String,
  /** This process's generation: a restarted node is a new member. */
  generation: Schema.Number,
  version: Schema.String,
  uptimeSeconds: Schema.Number,
  /** What `/readyz` answers: a member of the agreed ring, holding its ranges. */
  ready: Schema.Boolean,
  readiness: Schema.String,
  status: RingStatus,
  /** Whether reads may use this node on every key it replicates (it has pulled what it gained). */
  votingOnCurrentRing: Schema.Boolean,
  /** The agreed epoch this node is at (0 before the first is agreed). */
  ringEpoch: Schema.Number,
  ringPhase: Schema.optional(RingPhase),
  ringMembers: Schema.Array(Schema.String),
  /** Whether this node leads ring changes now, in its own view. */
  leader: Schema.Boolean,
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
  /** The agreed epoch of the configuration this node routes with (0 before the first). */
  epoch: Schema.Number,
  phase: Schema.optional(RingPhase),
  /** A hash of the member list: nodes that route the same way show the same digest. */
  digest: Schema.String,
  /** During a movement: the ring being left. */
  previous: Schema.Array(Schema.String),
  /** Members an operator removed by force in this movement. */
  forced: Schema.Array(Schema.String),
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
  tombstonesEvicted: Schema.Number,
  residentBytes: Schema.Number,
  heapUsedBytes: Schema.Number
}) {}

/** One agreed configuration as this node installed it. */
export class ConfigEntry extends Schema.Class<ConfigEntry>("ConfigEntry")({
  epoch: Schema.Number,
  phase: RingPhase,
  /** `address/generation` of each member. */
  members: Schema.Array(Schema.String),
  previous: Schema.Array(Schema.String),
  forced: Schema.Array(Schema.String)
}) {}

/** A run of the circle whose keys cannot reach a quorum now, in this node's view. */
export class UnavailableRange extends Schema.Class<UnavailableRange>("UnavailableRange")({
  start: Schema.Number,
  end: Schema.Number,
  replicas: Schema.Array(Schema.String),
  unreachable: Schema.Array(Schema.String)
}) {}

export class Availability extends Schema.Class<Availability>("Availability")({
  epoch: Schema.Number,
  /** Share of the hash circle whose QUORUM requests fail now. */
  unavailableShare: Schema.Number,
  ranges: Schema.Array(UnavailableRange),
  /** What the leader is waiting for, when this node leads (a removal S4 does not allow, pulls in progress, ...). */
  leaderPlan: Schema.String
}) {}

export class RemovalStarted extends Schema.Class<RemovalStarted>("RemovalStarted")({
  member: Schema.String,
  force: Schema.Boolean,
  /** Ranges (and their share of the circle) where the remaining replicas lack a reachable majority: writes there may be lost by force. */
  rangesAtRisk: Schema.Number,
  shareAtRisk: Schema.Number,
  message: Schema.String
}) {}

export class LeaveStarted extends Schema.Class<LeaveStarted>("LeaveStarted")({
  address: Schema.String,
  message: Schema.String
}) {}

/**
 * The admin API (`@effect/rpc` over HTTP, JSON). Views of one node and its
 * view of the cluster (status, members, ring, agreed history, unavailable
 * ranges), `Leave` (the same graceful exit as SIGTERM: drain, leave the
 * ring by agreement), and `Remove`: ask the leader to remove a member; one
 * whose ranges would keep no reachable majority only with `force`. `Leave`
 * and a forced `Remove` need the admin token even where the rest of the API
 * is open (a loopback admin server without ADMIN_TOKEN).
 */
export class AdminRpcs extends RpcGroup.make(
  Rpc.make("Status", { success: NodeStatus }),
  Rpc.make("Members", { success: Schema.Array(MemberView) }),
  Rpc.make("Ring", { payload: { ranges: Schema.Boolean }, success: RingView }),
  Rpc.make("Owners", { payload: { key: Schema.String }, success: KeyOwners, error: AdminError }),
  Rpc.make("Stats", { success: LocalStats }),
  Rpc.make("History", { success: Schema.Array(ConfigEntry) }),
  Rpc.make("Unavailable", { success: Availability }),
  Rpc.make("Remove", { payload: { member: Schema.String, force: Schema.Boolean }, success: RemovalStarted, error: AdminError }),
  Rpc.make("Leave", { success: LeaveStarted, error: AdminError })
) {}
