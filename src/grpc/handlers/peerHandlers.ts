import { Effect, Runtime, Stream } from "effect"
import { ServerError, Status } from "nice-grpc"
import type {
  AntiEntropyServiceImplementation,
  MembershipServiceImplementation,
  ReplicaServiceImplementation
} from "../../generated/cluster/v1/cluster.js"
import { ARC_TREE_DEPTH } from "../../antientropy/ArcTrees.js"
import * as codec from "../../peer/codec.js"
import type { PeerEndpoint } from "../../peer/PeerClient.js"

/** `cluster.v1.ReplicaService`: each op of a batch applied in order, answered in order. */
export const makeReplicaHandlers = (endpoint: PeerEndpoint): ReplicaServiceImplementation => ({
  async batch(request) {
    return { results: request.ops.map((op) => codec.encodeReply(endpoint.replicate(codec.decodeRequest(op)))) }
  }
})

/** `cluster.v1.MembershipService`, answered by the SWIM layer. */
export const makeMembershipHandlers = (
  endpoint: PeerEndpoint,
  self: string,
  runtime: Runtime.Runtime<never>
): MembershipServiceImplementation => {
  const run = Runtime.runPromise(runtime)
  const exec = <A>(effect: Effect.Effect<A>, signal: AbortSignal) => run(effect, { signal })
  return {
    async ping(request, { signal }) {
      // A probe meant for another address (this one was restarted elsewhere) must not count as an ack.
      if (request.target !== self) throw new ServerError(Status.FAILED_PRECONDITION, `this is ${self}, not ${request.target}`)
      const gossip = await exec(endpoint.ping({ from: request.from, target: request.target, gossip: codec.decodeMembers(request.gossip) }), signal)
      return { gossip: gossip.map(codec.encodeMember) }
    },
    async pingReq(request, { signal }) {
      const reply = await exec(endpoint.pingReq({ from: request.from, target: request.target, gossip: codec.decodeMembers(request.gossip) }), signal)
      return { ack: reply.ack, gossip: reply.gossip.map(codec.encodeMember) }
    },
    async join(request, { signal }) {
      const joiner = request.self === undefined ? undefined : codec.decodeMember(request.self)
      if (joiner === undefined) throw new ServerError(Status.INVALID_ARGUMENT, "join without a valid member")
      const members = await exec(endpoint.join(joiner), signal)
      return { members: members.map(codec.encodeMember) }
    }
  }
}

/**
 * `cluster.v1.AntiEntropyService`: a pull streamed chunk by chunk. A refusal
 * (rings differ, operations still in flight) is FAILED_PRECONDITION: the
 * puller retries later; UNAVAILABLE would make its client drop a healthy
 * connection, failing every call in flight on it.
 */
export const makeAntiEntropyHandlers = (endpoint: PeerEndpoint, runtime: Runtime.Runtime<never>): AntiEntropyServiceImplementation => ({
  async *pull(request) {
    if (request.requester === "" || request.members.length === 0) {
      throw new ServerError(Status.INVALID_ARGUMENT, "a pull needs a requester and the members of its ring")
    }
    const chunks = endpoint.pull({ requester: request.requester, members: request.members, ranges: request.ranges }).pipe(
      Stream.mapError((reason) => new ServerError(Status.FAILED_PRECONDITION, reason)),
      Stream.map(codec.encodePullChunk)
    )
    // Each chunk is produced only when the previous one has been written: back-pressure end to end.
    yield* Stream.toAsyncIterableRuntime(chunks, runtime)
  },
  async digests(request, { signal }) {
    if (request.level > ARC_TREE_DEPTH) {
      throw new ServerError(Status.INVALID_ARGUMENT, `no level ${request.level}: arc trees have ${ARC_TREE_DEPTH} levels below the root`)
    }
    const arcs = await Runtime.runPromise(runtime)(
      Effect.either(endpoint.digests({ members: request.members, arcs: request.arcs, level: request.level })),
      { signal }
    )
    if (arcs._tag === "Left") throw new ServerError(Status.FAILED_PRECONDITION, arcs.left)
    return { arcs: arcs.right.map(codec.encodeArcDigests) }
  }
})
