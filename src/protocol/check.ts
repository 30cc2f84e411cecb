import { formatHostPort, parseHostPort } from "../config/parse.js"
import { MAX_RING_MEMBERS, type MemberId, type RingConfig } from "./placement.js"

/** Longest member address accepted from the wire: a bracketed IPv6 or a 253-character host name, and a port. */
export const MAX_ADDRESS_LENGTH = 262

/** What is wrong with an address from the wire, or undefined: it must be `host:port` in the form nodes write it. */
export const addressProblem = (address: string): string | undefined => {
  if (address.length === 0 || address.length > MAX_ADDRESS_LENGTH) return `address of ${address.length} characters`
  const parsed = parseHostPort(address)
  if (!parsed.ok) return `bad address: ${parsed.error}`
  return formatHostPort(parsed.value) === address ? undefined : "address not in host:port form"
}

export const memberProblem = (member: MemberId): string | undefined => {
  const problem = addressProblem(member.address)
  if (problem !== undefined) return problem
  return Number.isInteger(member.generation) && member.generation > 0 && member.generation <= 0xffffffff
    ? undefined
    : `generation ${member.generation} of ${member.address}`
}

const listProblem = (what: string, members: ReadonlyArray<MemberId>): string | undefined => {
  if (members.length > MAX_RING_MEMBERS) return `${what}: ${members.length} members, at most ${MAX_RING_MEMBERS}`
  for (let i = 0; i < members.length; i++) {
    const problem = memberProblem(members[i]!)
    if (problem !== undefined) return `${what}: ${problem}`
    if (i > 0 && !(members[i - 1]!.address < members[i]!.address)) return `${what}: not sorted by address, or an address twice`
  }
  return undefined
}

/**
 * What makes a configuration unusable, or undefined. Configurations come off
 * the wire (commits, Paxos answers): one that breaks these rules is dropped
 * rather than built into a ring.
 */
export const configProblem = (config: RingConfig): string | undefined => {
  if (!Number.isSafeInteger(config.epoch) || config.epoch < 1) return `epoch ${config.epoch}`
  if (config.members.length === 0) return "no members"
  const members = listProblem("members", config.members) ?? listProblem("previous", config.previous) ?? listProblem("forced", config.forced)
  if (members !== undefined) return members
  if ((config.phase === "stable") !== (config.previous.length === 0)) return `phase ${config.phase} with ${config.previous.length} previous members`
  if (config.phase === "stable" && config.forced.length > 0) return "forced members in a stable configuration"
  const previous = new Set(config.previous.map((m) => `${m.address}/${m.generation}`))
  const next = new Set(config.members.map((m) => m.address))
  for (const member of config.forced) {
    if (!previous.has(`${member.address}/${member.generation}`) || next.has(member.address)) return `forced member ${member.address} not removed`
  }
  return undefined
}
