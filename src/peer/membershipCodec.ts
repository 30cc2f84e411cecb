import * as pb from "../generated/cluster/v1/cluster.js"
import { addressProblem } from "../protocol/check.js"
import { MAX_GOSSIP_PER_MESSAGE } from "../config/NodeConfig.js"
import type { MemberStatus, MemberUpdate } from "../protocol/membership.js"

/**
 * SWIM updates between the domain and `cluster.v1`. Gossip comes from
 * anyone who can reach the port, so decoding refuses a message with more
 * than MAX_GOSSIP_PER_MESSAGE updates, and drops updates with a bad address
 * or an unknown status.
 */

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

/** undefined for a status this version does not understand or an address that is not `host:port`. */
export const decodeMember = (m: pb.Member): MemberUpdate | undefined => {
  const status = STATUS_FROM_PB[m.status]
  return status === undefined || addressProblem(m.address) !== undefined ? undefined : { address: m.address, incarnation: m.incarnation, status }
}

/** The updates of one message; undefined when there are more than a message may carry. */
export const decodeGossip = (members: ReadonlyArray<pb.Member>): Array<MemberUpdate> | undefined => {
  if (members.length > MAX_GOSSIP_PER_MESSAGE) return undefined
  const out: Array<MemberUpdate> = []
  for (const m of members) {
    const decoded = decodeMember(m)
    if (decoded !== undefined) out.push(decoded)
  }
  return out
}
