import type { Availability, ConfigEntry, KeyOwners, LocalStats, MemberView, NodeStatus, RemovalStarted, RingView } from "../admin/AdminRpcs.js"
import { ago, bytes, fields, percent, table } from "./table.js"

export const membersTable = (members: ReadonlyArray<MemberView>): string =>
  table(
    ["MEMBER", "GENERATION", "STATE", "INCARNATION", "ON RING", "SINCE"],
    members.map((m) => [m.address, m.generation, m.state, m.incarnation, m.onRing ? "yes" : "no", ago(m.sinceMs)])
  )

export const renderStatus = (s: NodeStatus): string =>
  [
    fields([
      ["node", s.address],
      ["version", s.version],
      ["uptime", ago(s.uptimeSeconds * 1000)],
      ["generation", s.generation],
      ["ready", `${s.ready ? "yes" : "no"} (${s.readiness})`],
      ["membership", `${s.status}${s.leader ? ", leads ring changes" : ""}`],
      ["ring", `${s.ringMembers.length} members, epoch ${s.ringEpoch}${s.ringPhase === undefined ? "" : ` (${s.ringPhase})`}, replication factor ${s.replicationFactor}`],
      ["entries", `${s.entries} (${bytes(s.bytes)})`]
    ]),
    "",
    membersTable(s.members)
  ].join("\n")

export const renderRing = (r: RingView): string => {
  const head = [
    fields([
      ["epoch", `${r.epoch}${r.phase === undefined ? "" : ` (${r.phase})`}`],
      ["digest", r.digest],
      ...(r.previous.length === 0 ? [] : [["moving from", r.previous.join(", ")] as const]),
      ...(r.forced.length === 0 ? [] : [["removed by force", r.forced.join(", ")] as const]),
      ["replication factor", r.replicationFactor],
      ["vnodes", r.vnodes],
      ["voting on its ranges", r.votingOnCurrentRing ? "yes" : "no (pulling)"]
    ]),
    "",
    table(
      ["MEMBER", "PRIMARY", "REPLICATED", "TOKENS"],
      r.members.map((m) => [m.address, percent(m.primaryShare), percent(m.replicaShare), m.tokens])
    )
  ]
  if (r.ranges === undefined) return head.join("\n")
  const hex = (n: number) => n.toString(16).padStart(8, "0")
  return [...head, "", table(["START (EXCL)", "END (INCL)", "REPLICAS"], r.ranges.map((x) => [hex(x.start), hex(x.end), x.replicas.join(", ")]))]
    .join("\n")
}

export const renderOwners = (o: KeyOwners): string =>
  [
    fields([["key", o.key], ["hash", o.hash]]),
    "",
    table(["OWNER", "ROLE", "STATE"], o.owners.map((m) => [m.address, m.primary ? "primary" : "replica", m.state]))
  ].join("\n")

export const renderStats = (s: LocalStats): string =>
  fields([
    ["shards", s.shards],
    ["entries", `${s.entries} of ${s.capacity}`],
    ["bytes", `${bytes(s.bytes)} of ${bytes(s.maxMemoryBytes)}`],
    ["tombstones", s.tombstones],
    ["hits", s.hits],
    ["misses", s.misses],
    ["evictions", s.evictions],
    ["expirations", s.expirations],
    ["tombstones collected", s.tombstonesCollected],
    ["tombstones evicted", s.tombstonesEvicted],
    ["resident memory", bytes(s.residentBytes)],
    ["heap used", bytes(s.heapUsedBytes)]
  ])

export const renderHistory = (entries: ReadonlyArray<ConfigEntry>): string =>
  table(
    ["EPOCH", "PHASE", "MEMBERS", "PREVIOUS", "FORCED"],
    entries.map((e) => [e.epoch, e.phase, e.members.join(", "), e.previous.join(", "), e.forced.join(", ")])
  )

export const renderAvailability = (a: Availability): string => {
  const head = fields([["epoch", a.epoch], ["unavailable", percent(a.unavailableShare)], ["leader", a.leaderPlan]])
  if (a.ranges.length === 0) return head
  const hex = (n: number) => n.toString(16).padStart(8, "0")
  return [head, "", table(["START (EXCL)", "END (INCL)", "REPLICAS", "UNREACHABLE"], a.ranges.map((r) => [hex(r.start), hex(r.end), r.replicas.join(", "), r.unreachable.join(", ")]))]
    .join("\n")
}

export const renderRemoval = (r: RemovalStarted): string => `${r.member}: ${r.message}`
