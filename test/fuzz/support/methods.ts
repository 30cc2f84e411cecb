import {
  AntiEntropyServiceDefinition,
  MembershipServiceDefinition,
  PlacementServiceDefinition,
  ReplicaServiceDefinition
} from "../../../src/generated/cluster/v1/cluster.js"
import { CacheServiceDefinition } from "../../../src/generated/pb/cache.js"
import type { RawMethod } from "./rawGrpc.js"
import type { MessageType } from "./wire.js"

/** One gRPC method as the fuzz sends it: its path, streaming, and the generated request and response types. */
export interface FuzzMethod extends RawMethod {
  /** `Service/Method`, as reports name it. */
  readonly name: string
  readonly requestType: MessageType<unknown>
  readonly responseType: MessageType<unknown>
}

interface Definition {
  readonly fullName: string
  readonly methods: Record<string, {
    readonly name: string
    readonly requestType: unknown
    readonly responseType: unknown
    readonly requestStream: boolean
    readonly responseStream: boolean
  }>
}

const methodsOf = (definition: Definition): Record<string, FuzzMethod> =>
  Object.fromEntries(Object.values(definition.methods).map((m) => {
    const service = definition.fullName.split(".").pop()!
    return [m.name, {
      name: `${service}/${m.name}`,
      path: `/${definition.fullName}/${m.name}`,
      requestStream: m.requestStream,
      responseStream: m.responseStream,
      requestType: m.requestType as MessageType<unknown>,
      responseType: m.responseType as MessageType<unknown>
    }]
  }))

/** Every method the suite fuzzes: the client API and each internal service. */
export const METHODS = {
  cache: methodsOf(CacheServiceDefinition),
  replica: methodsOf(ReplicaServiceDefinition),
  membership: methodsOf(MembershipServiceDefinition),
  placement: methodsOf(PlacementServiceDefinition),
  antiEntropy: methodsOf(AntiEntropyServiceDefinition)
}

/** A method no server implements: the node must answer UNIMPLEMENTED, not hang. */
export const UNKNOWN_METHOD: FuzzMethod = {
  name: "unknown/Method",
  path: "/cluster.v1.ReplicaService/NoSuchMethod",
  requestStream: false,
  responseStream: false,
  requestType: METHODS.cache["Get"]!.requestType,
  responseType: METHODS.cache["Get"]!.responseType
}

/** Internal methods, for the phases that call them with and without credentials. */
export const INTERNAL_METHODS: ReadonlyArray<FuzzMethod> = [
  ...Object.values(METHODS.replica),
  ...Object.values(METHODS.membership),
  ...Object.values(METHODS.placement),
  ...Object.values(METHODS.antiEntropy)
]
