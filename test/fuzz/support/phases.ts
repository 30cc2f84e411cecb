import * as grpc from "@grpc/grpc-js"
import type fc from "fast-check"
import { httpCases, type HttpCase } from "./adminCases.js"
import { type GrpcCase, grpcCases } from "./cases.js"
import type { FuzzContext } from "./messages.js"
import { type RawOutcome, statusName } from "./rawGrpc.js"
import type { Caller, FuzzTarget, Intruder } from "./targets.js"

export type Case = GrpcCase | HttpCase

/**
 * One phase of a target's run: which calls, sent as whom, and which
 * properties hold after each batch. Every phase checks that no node died,
 * that each node's RSS stayed under the bound, and that every call got a
 * status within its deadline. The phases run in this order on one cluster,
 * so that the one that may legitimately change the ring comes last.
 */
export interface Phase {
  readonly name: string
  /** Share of the target's calls. */
  readonly share: number
  /**
   * "check": every known key must read back through every node after each
   * batch. "note": a known key that does not is only reported, because
   * what the phase sends may legitimately make keys unavailable.
   */
  readonly knownKeys: "check" | "note"
  readonly applies: (target: FuzzTarget) => boolean
  readonly cases: (ctx: FuzzContext) => fc.Arbitrary<Case>
  /** Who sends the phase's `i`th call. */
  readonly caller: (target: FuzzTarget, i: number) => Caller
  /** A broken property in a gRPC outcome beyond the case's own contract, or undefined. */
  readonly oracle?: (outcome: RawOutcome, caller: Caller) => string | undefined
}

const INTERNAL = [
  "replicaBatch", "replicaStream", "ping", "pingReq", "hello", "prepare", "accept", "commit", "change", "pull", "digests"
] as const

/** Codes an internal call of an intruder may end with: refused by the credential check, or before any handler read it. */
const refusedBeforeHandler = (outcome: RawOutcome, caller: Caller): string | undefined => {
  const allowed = (caller as Intruder).refusedWith
  if (allowed.includes(outcome.code)) return undefined
  if (outcome.code === grpc.status.RESOURCE_EXHAUSTED) return undefined // over the message limit: refused unread
  if (outcome.code === grpc.status.INTERNAL && /deserializ/i.test(outcome.details)) return undefined // not a message at all
  return `an intruder (${caller.name}) got ${statusName(outcome.code)}: ${outcome.details.slice(0, 120)}`
}

export const PHASES: ReadonlyArray<Phase> = [
  {
    // pb.CacheService is open to every client: Set/Get/Delete with any input, plus a method nobody implements.
    // Contract: invalid requests are refused (cases.ts); known keys are never touched by it.
    name: "client",
    share: 3,
    knownKeys: "check",
    applies: () => true,
    cases: (ctx) => grpcCases(["cacheSet", "cacheGet", "cacheDelete", "unknownMethod"], ctx),
    caller: (target) => target.client
  },
  {
    // The admin HTTP server: probes, admin RPCs (not Leave, not Remove of a member), random bodies and paths.
    name: "admin",
    share: 2,
    knownKeys: "check",
    applies: () => true,
    cases: (ctx) => httpCases(ctx),
    caller: (target) => target.client
  },
  {
    // Every internal method, valid-shaped and mutated, without valid credentials: each call must be refused.
    name: "intruder",
    share: 1,
    knownKeys: "check",
    applies: (target) => target.intruders.length > 0,
    cases: (ctx) => grpcCases(INTERNAL, ctx),
    caller: (target, i) => target.intruders[i % target.intruders.length]!,
    oracle: refusedBeforeHandler
  },
  {
    // Replica reads and writes and anti-entropy as a member. A member is trusted to write any key at any
    // version, so writes can change any key but the known ones (reserved prefix); oversized and non-UTF-8
    // writes must not be applied (cases.ts). Known keys must survive.
    name: "data plane",
    share: 3,
    knownKeys: "check",
    applies: () => true,
    cases: (ctx) => grpcCases(["replicaBatch", "replicaStream", "pull", "digests"], ctx),
    caller: (target) => target.member
  },
  {
    // SWIM and ring agreement as a member. A forged but authenticated member may legitimately suspect
    // members, propose and commit configurations, ask for joins and removals: the ring may change and
    // keys may become unavailable, so known keys are only noted here. What must hold: no node dies or
    // blows its memory, every call is answered in time.
    name: "control plane",
    share: 2,
    knownKeys: "note",
    applies: () => true,
    cases: (ctx) => grpcCases(["ping", "pingReq", "hello", "prepare", "accept", "commit", "change"], ctx),
    caller: (target) => target.member
  }
]
