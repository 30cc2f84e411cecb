import type { KeyOwners, LocalStats, MemberView, NodeStatus, RingView } from "../admin/AdminRpcs.js"
import { ago, bytes, fields, percent, table } from "./table.js"

export const membersTable = (members: ReadonlyArray<MemberView>): string =>
  table(
    ["MEMBER", "STATE", "INCARNATION", "ON RING", "SINCE"],
    members.map((m) => [m.address, m.state, m.incarnation, m.onRing ? "yes" : "no", ago(m.sinceMs)])
  )

export const renderStatus = (s: NodeStatus): string =>
  [
    fields([
      ["node", s.address],
      ["version", s.version],
      ["uptime", ago(s.uptimeSeconds * 1000)],
      ["ready", `${s.ready ? "yes" : "no"} (${s.readiness})`],
      ["voting on its ranges", s.votingOnCurrentRing ? "yes" : "no (pulling)"],
      ["ring", `${s.ringMembers.length} members, epoch ${s.ringEpoch}, replication factor ${s.replicationFactor}`],
      ["entries", `${s.entries} (${bytes(s.bytes)})`]
    ]),
    "",
    membersTable(s.members)
  ].join("\n")

export const renderRing = (r: RingView): string => {
  const head = [
    fields([
      ["epoch", r.epoch],
      ["digest", r.digest],
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
    ["resident memory", bytes(s.residentBytes)],
    ["heap used", bytes(s.heapUsedBytes)]
  ])
