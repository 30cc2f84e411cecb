import fc from "fast-check"
import { fuzzBytes, fuzzEnum, fuzzEpoch, fuzzKey, fuzzString, type Limits, repeated, repeatedLong, u32, u64 } from "./primitives.js"

/**
 * Valid-shaped requests of every fuzzed method: each field of the generated
 * message type, filled from the edges (see primitives.ts). Addresses come
 * from a closed set (the cluster's own, loopback ports nobody listens on,
 * malformed ones) so that a node asked to dial one only ever dials this
 * machine's loopback; `safety.ts` checks that again on the final bytes.
 */

/** What the arbitraries need to know about the live cluster to get requests past the first checks. */
export interface FuzzContext {
  readonly addresses: ReadonlyArray<string>
  /** Process generation of each node (same order as `addresses`). */
  readonly generations: ReadonlyArray<number>
  /** The ring epoch the nodes were at when the batch was built. */
  readonly epoch: number
  /** Ring tokens (the ends of arcs) of the current ring: the arcs Digests answers for. */
  readonly tokens: ReadonlyArray<number>
  /** Loopback addresses nobody listens on: forged members that never answer. */
  readonly spare: ReadonlyArray<string>
  readonly limits: Limits
  /** HLC now (ms × 1024) when the batch was built: versions near it are accepted, far ones refused. */
  readonly nowHlc: number
}

const MALFORMED_ADDRESSES = ["", "127.0.0.1", "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:-1", "[::1", "[::1]", ":8080", "127.0.0.1:80:1", " 127.0.0.1:1", "127.0.0.1:01", "[127.0.0.1]:1", "127.0.0.1:1\u0000"]

const smallString = fc.string({ maxLength: 8 })

/**
 * An address: a member's, a silent loopback one, a malformed one, or any
 * string (`small`: at most a few characters, for an item repeated
 * thousands of times).
 */
export const address = (ctx: FuzzContext, small = false): fc.Arbitrary<string> =>
  fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...ctx.addresses) },
    { weight: 2, arbitrary: fc.constantFrom(...ctx.spare, "localhost:1", "[::1]:1") },
    { weight: 2, arbitrary: fc.constantFrom(...MALFORMED_ADDRESSES) },
    { weight: 1, arbitrary: small ? smallString : fuzzString(ctx.limits) }
  )

const generationOf = (ctx: FuzzContext, addr: string) => ctx.generations[ctx.addresses.indexOf(addr)] ?? 1
const memberId = (ctx: FuzzContext, small = false) =>
  address(ctx, small).chain((addr) =>
    fc.record({ address: fc.constant(addr), generation: fc.oneof({ weight: 3, arbitrary: fc.constant(generationOf(ctx, addr)) }, { weight: 1, arbitrary: u32() }) })
  )
const maybe = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined, freq: 6 })

// pb.CacheService

const consistency = fuzzEnum([0, 1, 2, 3])
const payload = (limits: Limits) =>
  fc.oneof(
    { weight: 3, arbitrary: fuzzString(limits).map((value) => ({ value })) },
    { weight: 2, arbitrary: fuzzBytes(limits).map((bytes) => ({ valueBytes: Buffer.from(bytes) })) },
    { weight: 1, arbitrary: fc.constant({}) }
  )

export const setRequest = (ctx: FuzzContext) =>
  fc.record({ key: fuzzKey(ctx.limits), payload: payload(ctx.limits), ttlSeconds: maybe(u32()), consistency })
    .map(({ payload, ...rest }) => ({ ...rest, ...payload }))
export const keyRequest = (ctx: FuzzContext) => fc.record({ key: fuzzKey(ctx.limits), consistency })

// cluster.v1.ReplicaService

const version = (ctx: FuzzContext) =>
  fc.record({
    hlc: fc.oneof(
      { weight: 3, arbitrary: fc.integer({ min: -600_000, max: 300 }).map((ms) => Math.max(0, ctx.nowHlc + ms * 1024)) },
      { weight: 1, arbitrary: u64() }
    ),
    nodeId: u32(),
    generation: u32()
  })

const replicaWrite = (ctx: FuzzContext, big: boolean) =>
  fc.record({
    version: maybe(version(ctx)),
    payload: big ? payload(ctx.limits) : fc.constant({ value: "v" }),
    tombstone: fc.boolean(),
    expiresAtMs: fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: u64() })
  }).map(({ payload, ...rest }) => ({ ...rest, ...payload }))

const TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
const replicaOp = (ctx: FuzzContext, big: boolean) =>
  fc.record({
    key: big ? fuzzKey(ctx.limits) : smallString,
    write: maybe(replicaWrite(ctx, big)),
    traceparent: fc.oneof({ weight: 4, arbitrary: fc.constant("") }, { weight: 1, arbitrary: fc.constant(TRACEPARENT) }, { weight: 1, arbitrary: fuzzString(ctx.limits, false) }),
    epoch: fuzzEpoch(ctx.epoch)
  })

/** A Batch (or one Stream message): a few ops of any size, or thousands of small ones. */
export const replicaBatch = (ctx: FuzzContext) =>
  fc.record({
    ops: fc.oneof({ weight: 8, arbitrary: fc.array(replicaOp(ctx, true), { maxLength: 4 }) }, { weight: 1, arbitrary: repeatedLong(replicaOp(ctx, false), [1_000, 20_000]) }),
    from: address(ctx)
  })

// cluster.v1.MembershipService

const member = (ctx: FuzzContext, small = false) => fc.record({ address: address(ctx, small), incarnation: u32(), status: fuzzEnum([0, 1, 2, 3]) })
const gossip = (ctx: FuzzContext) => repeated(member(ctx), [64, 65, 1_000, 100_000], 6, member(ctx, true))

/** A Ping for node `self`: mostly aimed at it, so it gets past the target check. */
export const pingRequest = (ctx: FuzzContext, self: number) =>
  fc.record({
    from: address(ctx),
    target: fc.oneof({ weight: 4, arbitrary: fc.constant(ctx.addresses[self]!) }, { weight: 1, arbitrary: address(ctx) }),
    gossip: gossip(ctx),
    generation: u32(),
    epoch: fuzzEpoch(ctx.epoch)
  })
export const pingReqRequest = (ctx: FuzzContext) =>
  fc.record({ from: address(ctx), target: address(ctx), gossip: gossip(ctx), generation: u32(), epoch: fuzzEpoch(ctx.epoch) })

// cluster.v1.PlacementService

const members = (ctx: FuzzContext) =>
  fc.oneof(
    { weight: 4, arbitrary: fc.array(memberId(ctx), { maxLength: 5 }).map((list) => list.sort((a, b) => (a.address < b.address ? -1 : 1))) },
    { weight: 2, arbitrary: fc.array(memberId(ctx), { maxLength: 5 }) },
    { weight: 1, arbitrary: repeatedLong(memberId(ctx, true), [1_025, 50_000]) }
  )
const ringConfig = (ctx: FuzzContext) =>
  fc.record({
    epoch: fuzzEpoch(ctx.epoch + 1),
    phase: fuzzEnum([0, 1, 2]),
    members: members(ctx),
    previous: fc.oneof({ weight: 3, arbitrary: fc.constant([]) }, { weight: 1, arbitrary: members(ctx) }),
    forced: fc.oneof({ weight: 4, arbitrary: fc.constant([]) }, { weight: 1, arbitrary: members(ctx) })
  })
const ballot = (ctx: FuzzContext) => fc.record({ round: u64(), proposer: address(ctx) })
const seeds = (ctx: FuzzContext) => repeated(address(ctx), [1_000, 100_000], 4, address(ctx, true))

export const helloRequest = (ctx: FuzzContext) => fc.record({ from: maybe(memberId(ctx)), seeds: seeds(ctx) })
export const prepareRequest = (ctx: FuzzContext) =>
  fc.record({ from: maybe(memberId(ctx)), instance: fuzzEpoch(ctx.epoch + 1), ballot: maybe(ballot(ctx)), base: maybe(ringConfig(ctx)), seeds: seeds(ctx) })
export const acceptRequest = (ctx: FuzzContext) =>
  fc.record({
    from: maybe(memberId(ctx)),
    instance: fuzzEpoch(ctx.epoch + 1),
    ballot: maybe(ballot(ctx)),
    value: maybe(ringConfig(ctx)),
    base: maybe(ringConfig(ctx)),
    seeds: seeds(ctx)
  })
export const commitRequest = (ctx: FuzzContext) => fc.record({ config: maybe(ringConfig(ctx)) })
export const changeRequest = (ctx: FuzzContext) =>
  fc.record({ from: maybe(memberId(ctx)), kind: fuzzEnum([0, 1, 2, 3, 4]), member: maybe(memberId(ctx)), epoch: fuzzEpoch(ctx.epoch), force: fc.boolean() })

// cluster.v1.AntiEntropyService

const hashRange = fc.record({ first: u32(), count: fc.oneof(u64(), fc.constantFrom(2 ** 32, 2 ** 32 + 1)) })
export const pullRequest = (ctx: FuzzContext) =>
  fc.record({ requester: address(ctx), ranges: repeated(hashRange, [1_000, 100_000], 4, hashRange), epoch: fuzzEpoch(ctx.epoch), floors: fc.boolean() })

const arc = (ctx: FuzzContext) => fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...ctx.tokens) }, { weight: 1, arbitrary: u32() })
export const digestsRequest = (ctx: FuzzContext) =>
  fc.record({
    // Arcs are the field a receiver builds the most from (a node per arc and level): long lists more often.
    arcs: repeated(arc(ctx), [1_000, 100_000, 800_000], 8, arc(ctx), 4),
    level: fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 0, max: 6 }) }, { weight: 1, arbitrary: u32() }),
    epoch: fuzzEpoch(ctx.epoch)
  })
