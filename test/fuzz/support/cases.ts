import fc from "fast-check"
import { BatchResponse, ReplicaResult_Kind, StreamResponse } from "../../../src/generated/cluster/v1/cluster.js"
import * as m from "./messages.js"
import type { FuzzContext } from "./messages.js"
import { METHODS, type FuzzMethod, UNKNOWN_METHOD } from "./methods.js"
import { describeMutations, mutate, mutations, rawField } from "./mutate.js"
import { preview, type Limits } from "./primitives.js"
import type { RawOutcome } from "./rawGrpc.js"
import { encodeWith, rawBytesOf } from "./wire.js"

/** One gRPC call of the fuzz: exact bytes to one node, and what its outcome must not be. */
export interface GrpcCase {
  readonly kind: "grpc"
  readonly method: FuzzMethod
  readonly node: number
  readonly messages: ReadonlyArray<Buffer>
  /** What was sent, short enough for a report. */
  readonly shape: string
  /** A broken contract in the outcome, or undefined (see `cacheOracle`, `replicaOracle`). */
  readonly oracle?: ((outcome: RawOutcome) => string | undefined) | undefined
}

const OK = 0
const utf8 = new TextDecoder("utf-8", { fatal: true })
const isInvalidUtf8 = (bytes: Uint8Array) => {
  try {
    utf8.decode(bytes)
    return false
  } catch {
    return true
  }
}
const byteLength = (value: string | Uint8Array | undefined) => value === undefined ? 0 : typeof value === "string" ? Buffer.byteLength(value) : value.byteLength

/** Why a key must be refused on any path: empty (client path), over MAX_KEY_SIZE, or not UTF-8 on the wire. */
const keyFault = (key: string, limits: Limits, emptyIsFault: boolean): string | undefined => {
  const raw = rawBytesOf(key)
  if (raw !== undefined) return isInvalidUtf8(raw) ? `key of invalid UTF-8 (${Buffer.from(raw).toString("hex")})` : undefined
  if (key.length === 0) return emptyIsFault ? "empty key" : undefined
  const bytes = Buffer.byteLength(key)
  return bytes > limits.maxKeyBytes ? `key of ${bytes} bytes (MAX_KEY_SIZE ${limits.maxKeyBytes})` : undefined
}

interface CacheRequest {
  readonly key: string
  readonly value?: string
  readonly valueBytes?: Uint8Array
  readonly consistency: number
}

/**
 * pb.CacheService's contract (README "Errors"): an empty, oversized or
 * non-UTF-8 key, a missing or oversized value, an unknown consistency is
 * refused; a refused request changes nothing. The outcome must not be OK.
 */
const cacheOracle = (method: string, request: CacheRequest, limits: Limits) => {
  const faults = [
    keyFault(request.key, limits, true),
    request.consistency < 0 || request.consistency > 3 ? `consistency ${request.consistency}` : undefined,
    method === "Set" && request.value === undefined && request.valueBytes === undefined ? "no value" : undefined,
    method === "Set" && byteLength(request.value ?? request.valueBytes) > limits.maxValueBytes
      ? `value of ${byteLength(request.value ?? request.valueBytes)} bytes (MAX_VALUE_SIZE ${limits.maxValueBytes})`
      : undefined
  ].filter((f) => f !== undefined)
  if (faults.length === 0) return undefined
  return (outcome: RawOutcome) => outcome.code === OK ? `accepted a request with ${faults.join(", ")}` : undefined
}

interface ReplicaBatchLike {
  readonly ops: ReadonlyArray<{ readonly key: string; readonly write?: { readonly value?: string; readonly valueBytes?: Uint8Array; readonly tombstone: boolean } | undefined }>
}

/**
 * A replica write of a key or value over the limits, or of a key that is
 * not UTF-8, must never be applied: MAX_KEY_SIZE and MAX_VALUE_SIZE bound
 * what a node stores whoever sends it, and two distinct keys must not merge.
 */
const replicaOracle = (batches: ReadonlyArray<ReplicaBatchLike>, stream: boolean, limits: Limits) => {
  const faults = batches.map((batch) =>
    batch.ops.map((op) => {
      if (op.write === undefined) return undefined
      const value = byteLength(op.write.value ?? op.write.valueBytes)
      return keyFault(op.key, limits, false) ??
        (value > limits.maxValueBytes ? `value of ${value} bytes (MAX_VALUE_SIZE ${limits.maxValueBytes})` : undefined)
    })
  )
  if (faults.every((ops) => ops.every((f) => f === undefined))) return undefined
  return (outcome: RawOutcome) => {
    if (outcome.code !== OK) return undefined
    for (const [i, bytes] of outcome.responses.entries()) {
      const results = (stream ? StreamResponse.decode(bytes) : BatchResponse.decode(bytes)).results
      for (const [j, result] of results.entries()) {
        const fault = faults[i]?.[j]
        if (fault !== undefined && result.kind === ReplicaResult_Kind.KIND_APPLIED) return `applied a replica write with ${fault}`
      }
    }
    return undefined
  }
}

type Build<T> = (ctx: FuzzContext, node: number) => fc.Arbitrary<T>

/** Valid-shaped calls of `method`: a request (1-3 for a client stream) per node, sometimes with raw fields appended. */
const valid = <T>(method: FuzzMethod, build: Build<T>, oracle?: (requests: ReadonlyArray<T>, ctx: FuzzContext) => GrpcCase["oracle"]) =>
  (ctx: FuzzContext): fc.Arbitrary<GrpcCase> =>
    fc.integer({ min: 0, max: ctx.addresses.length - 1 }).chain((node) =>
      fc.record({
        requests: method.requestStream ? fc.array(build(ctx, node), { minLength: 1, maxLength: 3 }) : build(ctx, node).map((r) => [r]),
        extra: fc.option(fc.array(rawField, { minLength: 1, maxLength: 2 }), { nil: [], freq: 8 })
      }).map(({ requests, extra }): GrpcCase => ({
        kind: "grpc",
        method,
        node,
        messages: requests.map((r) => encodeWith(method.requestType, r as never, extra)),
        shape: `${preview(method.requestStream ? requests : requests[0])}${extra.length > 0 ? ` + raw ${preview(extra, 80)}` : ""}`,
        ...(oracle === undefined || extra.length > 0 ? {} : { oracle: oracle(requests, ctx) })
      }))
    )

/** Valid encodings with bytes flipped, inserted, deleted, truncated: only the phase's liveness properties apply. */
const mutated = (validCase: (ctx: FuzzContext) => fc.Arbitrary<GrpcCase>) => (ctx: FuzzContext): fc.Arbitrary<GrpcCase> =>
  fc.record({ base: validCase(ctx), program: mutations, which: fc.nat() }).map(({ base, program, which }) => {
    const index = which % base.messages.length
    const messages = base.messages.map((bytes, i) => (i === index ? mutate(bytes, program) : bytes))
    return { kind: "grpc", method: base.method, node: base.node, messages, shape: `mutated (${describeMutations(program)}) from ${base.shape}` }
  })

const { cache, replica, membership, placement, antiEntropy } = METHODS

/** Per method: valid-shaped calls and byte-mutated ones. */
export const GRPC_CASES = {
  cacheSet: valid(cache["Set"]!, (ctx) => m.setRequest(ctx), ([r], ctx) => cacheOracle("Set", r!, ctx.limits)),
  cacheGet: valid(cache["Get"]!, (ctx) => m.keyRequest(ctx), ([r], ctx) => cacheOracle("Get", r!, ctx.limits)),
  cacheDelete: valid(cache["Delete"]!, (ctx) => m.keyRequest(ctx), ([r], ctx) => cacheOracle("Delete", r!, ctx.limits)),
  unknownMethod: valid(UNKNOWN_METHOD, (ctx) => m.keyRequest(ctx)),
  replicaBatch: valid(replica["Batch"]!, (ctx) => m.replicaBatch(ctx), (rs, ctx) => replicaOracle(rs, false, ctx.limits)),
  replicaStream: valid(replica["Stream"]!, (ctx) => m.replicaBatch(ctx), (rs, ctx) => replicaOracle(rs, true, ctx.limits)),
  ping: valid(membership["Ping"]!, (ctx, node) => m.pingRequest(ctx, node)),
  pingReq: valid(membership["PingReq"]!, (ctx) => m.pingReqRequest(ctx)),
  hello: valid(placement["Hello"]!, (ctx) => m.helloRequest(ctx)),
  prepare: valid(placement["Prepare"]!, (ctx) => m.prepareRequest(ctx)),
  accept: valid(placement["Accept"]!, (ctx) => m.acceptRequest(ctx)),
  commit: valid(placement["Commit"]!, (ctx) => m.commitRequest(ctx)),
  change: valid(placement["Change"]!, (ctx) => m.changeRequest(ctx)),
  pull: valid(antiEntropy["Pull"]!, (ctx) => m.pullRequest(ctx)),
  digests: valid(antiEntropy["Digests"]!, (ctx) => m.digestsRequest(ctx))
}

export type GrpcCaseName = keyof typeof GRPC_CASES

/**
 * Calls of the named methods, each valid-shaped or mutated with equal
 * weight. `oracles` false drops the contract checks (a phase where the
 * request is refused before any handler reads it).
 */
export const grpcCases = (names: ReadonlyArray<GrpcCaseName>, ctx: FuzzContext): fc.Arbitrary<GrpcCase> =>
  fc.oneof(...names.flatMap((name) => [GRPC_CASES[name](ctx), mutated(GRPC_CASES[name])(ctx)]))

/** Whether the case's responses must be kept for its oracle (replica results are decoded). */
export const keepsResponses = (c: GrpcCase) => c.oracle !== undefined && c.method.path.startsWith("/cluster.v1.ReplicaService/")
