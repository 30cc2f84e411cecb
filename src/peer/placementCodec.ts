import * as pb from "../generated/cluster/v1/cluster.js"
import { configProblem, memberProblem } from "../protocol/check.js"
import {
  type Ballot,
  type Change,
  type ConfigValue,
  MAX_RING_MEMBERS,
  type MemberId,
  type PlacementRequest,
  type PlacementResponse,
  type PlacementResponses,
  type RingConfig,
  type RingPhase
} from "../protocol/placement.js"

/**
 * Ring agreement messages between the domain and `cluster.v1`. What comes
 * off the wire is checked here: a malformed identity or configuration makes
 * the whole message undefined (refused), never a half-read one.
 */

/** Thrown inside decoding; caught at its edge and turned into undefined. */
class Malformed extends Error {}

const PHASE_TO_PB: Record<RingPhase, pb.RingPhase> = {
  stable: pb.RingPhase.RING_PHASE_STABLE,
  writeBoth: pb.RingPhase.RING_PHASE_WRITE_BOTH,
  readNew: pb.RingPhase.RING_PHASE_READ_NEW
}
const PHASE_FROM_PB: ReadonlyArray<RingPhase> = ["stable", "writeBoth", "readNew"]

const MAX_SEEDS = MAX_RING_MEMBERS

const encodeId = (m: MemberId): pb.MemberId => ({ address: m.address, generation: m.generation })
const decodeId = (m: pb.MemberId | undefined): MemberId => {
  if (m === undefined) throw new Malformed("missing member")
  const member = { address: m.address, generation: m.generation }
  const problem = memberProblem(member)
  if (problem !== undefined) throw new Malformed(problem)
  return member
}
const decodeIds = (ms: ReadonlyArray<pb.MemberId>): Array<MemberId> => {
  if (ms.length > MAX_RING_MEMBERS) throw new Malformed(`${ms.length} members`)
  return ms.map(decodeId)
}

export const encodeConfig = (c: ConfigValue & { readonly epoch: number }): pb.RingConfig => ({
  epoch: c.epoch,
  phase: PHASE_TO_PB[c.phase],
  members: c.members.map(encodeId),
  previous: c.previous.map(encodeId),
  forced: c.forced.map(encodeId)
})

const decodeConfig = (c: pb.RingConfig | undefined): RingConfig | undefined => {
  if (c === undefined) return undefined
  const phase = PHASE_FROM_PB[c.phase]
  if (phase === undefined) throw new Malformed(`phase ${c.phase}`)
  const config: RingConfig = { epoch: c.epoch, phase, members: decodeIds(c.members), previous: decodeIds(c.previous), forced: decodeIds(c.forced) }
  const problem = configProblem(config)
  if (problem !== undefined) throw new Malformed(problem)
  return config
}
const requireConfig = (c: pb.RingConfig | undefined): RingConfig => {
  const config = decodeConfig(c)
  if (config === undefined) throw new Malformed("missing configuration")
  return config
}
const valueOf = ({ phase, members, previous, forced }: RingConfig): ConfigValue => ({ phase, members, previous, forced })

const encodeBallot = (b: Ballot | undefined): pb.Ballot | undefined => (b === undefined ? undefined : { round: b.round, proposer: b.proposer })
const decodeBallot = (b: pb.Ballot | undefined): Ballot | undefined => (b === undefined ? undefined : { round: b.round, proposer: b.proposer })
const requireBallot = (b: pb.Ballot | undefined): Ballot => {
  const ballot = decodeBallot(b)
  if (ballot === undefined || !Number.isSafeInteger(ballot.round)) throw new Malformed("missing ballot")
  return ballot
}
const decodeSeeds = (seeds: ReadonlyArray<string>): ReadonlyArray<string> => {
  if (seeds.length > MAX_SEEDS) throw new Malformed(`${seeds.length} seeds`)
  return seeds
}

const attempt = <A>(decode: () => A): A | undefined => {
  try {
    return decode()
  } catch (error) {
    if (error instanceof Malformed) return undefined
    throw error
  }
}

// ---- requests

export const encodeHello = (r: PlacementRequest & { kind: "hello" }): pb.HelloRequest => ({ from: encodeId(r.body.from), seeds: [...r.body.seeds] })
export const decodeHello = (r: pb.HelloRequest): PlacementRequest | undefined =>
  attempt(() => ({ kind: "hello", body: { from: decodeId(r.from), seeds: decodeSeeds(r.seeds) } }))

export const encodePrepare = ({ body }: PlacementRequest & { kind: "prepare" }): pb.PrepareRequest => ({
  from: encodeId(body.from),
  instance: body.instance,
  ballot: encodeBallot(body.ballot),
  base: body.base === undefined ? undefined : encodeConfig(body.base),
  seeds: [...body.seeds]
})
export const decodePrepare = (r: pb.PrepareRequest): PlacementRequest | undefined =>
  attempt(() => ({
    kind: "prepare",
    body: { from: decodeId(r.from), instance: r.instance, ballot: requireBallot(r.ballot), base: decodeConfig(r.base), seeds: decodeSeeds(r.seeds) }
  }))

export const encodeAccept = ({ body }: PlacementRequest & { kind: "accept" }): pb.AcceptRequest => ({
  from: encodeId(body.from),
  instance: body.instance,
  ballot: encodeBallot(body.ballot),
  value: encodeConfig({ ...body.value, epoch: body.instance }),
  base: body.base === undefined ? undefined : encodeConfig(body.base),
  seeds: [...body.seeds]
})
export const decodeAccept = (r: pb.AcceptRequest): PlacementRequest | undefined =>
  attempt(() => ({
    kind: "accept",
    body: {
      from: decodeId(r.from),
      instance: r.instance,
      ballot: requireBallot(r.ballot),
      value: valueOf(requireConfig(r.value)),
      base: decodeConfig(r.base),
      seeds: decodeSeeds(r.seeds)
    }
  }))

export const encodeCommit = ({ body }: PlacementRequest & { kind: "commit" }): pb.CommitRequest => ({ config: encodeConfig(body.config) })
export const decodeCommit = (r: pb.CommitRequest): PlacementRequest | undefined =>
  attempt(() => ({ kind: "commit", body: { config: requireConfig(r.config) } }))

const CHANGE_TO_PB: Record<Change["kind"], pb.ChangeKind> = {
  join: pb.ChangeKind.CHANGE_KIND_JOIN,
  leave: pb.ChangeKind.CHANGE_KIND_LEAVE,
  remove: pb.ChangeKind.CHANGE_KIND_REMOVE,
  synced: pb.ChangeKind.CHANGE_KIND_SYNCED
}

export const encodeChange = ({ body }: PlacementRequest & { kind: "change" }): pb.ChangeRequest => {
  const change = body.change
  return {
    from: encodeId(body.from),
    kind: CHANGE_TO_PB[change.kind],
    member: encodeId(change.member),
    epoch: change.kind === "synced" ? change.epoch : 0,
    force: change.kind === "remove" ? change.force : false
  }
}
export const decodeChange = (r: pb.ChangeRequest): PlacementRequest | undefined =>
  attempt(() => {
    const member = decodeId(r.member)
    const change: Change = (() => {
      switch (r.kind) {
        case pb.ChangeKind.CHANGE_KIND_JOIN:
          return { kind: "join", member }
        case pb.ChangeKind.CHANGE_KIND_LEAVE:
          return { kind: "leave", member }
        case pb.ChangeKind.CHANGE_KIND_REMOVE:
          return { kind: "remove", member, force: r.force }
        case pb.ChangeKind.CHANGE_KIND_SYNCED:
          return { kind: "synced", member, epoch: r.epoch }
        default:
          throw new Malformed(`change kind ${r.kind}`)
      }
    })()
    return { kind: "change", body: { from: decodeId(r.from), change } }
  })

// ---- responses

export const encodeHelloResponse = (r: PlacementResponses["hello"]): pb.HelloResponse => ({
  self: encodeId(r.self),
  seeds: [...r.seeds],
  config: r.config === undefined ? undefined : encodeConfig(r.config),
  syncedEpoch: r.syncedEpoch
})
export const decodeHelloResponse = (r: pb.HelloResponse): PlacementResponses["hello"] | undefined =>
  attempt(() => ({ self: decodeId(r.self), seeds: decodeSeeds(r.seeds), config: decodeConfig(r.config), syncedEpoch: r.syncedEpoch }))

export const encodePrepareResponse = (r: PlacementResponses["prepare"]): pb.PrepareResponse => ({
  acceptor: encodeId(r.acceptor),
  ok: r.ok,
  promised: encodeBallot(r.promised),
  acceptedBallot: encodeBallot(r.accepted?.ballot),
  // A configuration on the wire needs an epoch; the instance's is not carried, and 1 is always valid.
  acceptedValue: r.accepted === undefined ? undefined : encodeConfig({ ...r.accepted.value, epoch: 1 }),
  config: r.config === undefined ? undefined : encodeConfig(r.config),
  reason: r.reason
})
export const decodePrepareResponse = (r: pb.PrepareResponse): PlacementResponses["prepare"] | undefined =>
  attempt(() => {
    const ballot = decodeBallot(r.acceptedBallot)
    const value = decodeConfig(r.acceptedValue)
    return {
      acceptor: decodeId(r.acceptor),
      ok: r.ok,
      promised: decodeBallot(r.promised),
      accepted: ballot === undefined || value === undefined ? undefined : { ballot, value: valueOf(value) },
      config: decodeConfig(r.config),
      reason: r.reason
    }
  })

export const encodeAcceptResponse = (r: PlacementResponses["accept"]): pb.AcceptResponse => ({
  acceptor: encodeId(r.acceptor),
  ok: r.ok,
  promised: encodeBallot(r.promised),
  config: r.config === undefined ? undefined : encodeConfig(r.config),
  reason: r.reason
})
export const decodeAcceptResponse = (r: pb.AcceptResponse): PlacementResponses["accept"] | undefined =>
  attempt(() => ({ acceptor: decodeId(r.acceptor), ok: r.ok, promised: decodeBallot(r.promised), config: decodeConfig(r.config), reason: r.reason }))

export const encodeCommitResponse = (r: PlacementResponses["commit"]): pb.CommitResponse => ({ epoch: r.epoch })
export const decodeCommitResponse = (r: pb.CommitResponse): PlacementResponses["commit"] => ({ epoch: r.epoch })

export const encodeChangeResponse = (r: PlacementResponses["change"]): pb.ChangeResponse => ({ accepted: r.accepted, reason: r.reason, epoch: r.epoch })
export const decodeChangeResponse = (r: pb.ChangeResponse): PlacementResponses["change"] => ({ accepted: r.accepted, reason: r.reason, epoch: r.epoch })

export type { PlacementResponse }
