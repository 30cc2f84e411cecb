import { Duration, Effect, Layer, Runtime, Stream } from "effect"
import type { EpochMismatch } from "../protocol/movement.js"
import type { ReplicaReply } from "../protocol/replica.js"
import { type PeerClientShape, PeerClient, type PeerEndpoint } from "./PeerClient.js"
import { type PeerError, PeerTimeout, PeerUnavailable } from "./PeerError.js"

/** Fault knobs of the in-memory network; change them while a test runs. */
export interface NetworkFaults {
  /** Nodes that answer nothing (crashed or cut off). */
  readonly down: Set<string>
  /** Directed links that drop every message, as "from->to". */
  readonly cut: Set<string>
  /** Delay of each delivery. */
  delay: Duration.Duration
}

/**
 * An in-process network of nodes for tests: each node registers its
 * `PeerEndpoint`; calls are delivered after `delay` on the test's clock, and
 * to a node that is down or behind a cut link they time out after `timeout`.
 */
export class MemoryNetwork {
  readonly endpoints = new Map<string, PeerEndpoint>()
  readonly faults: NetworkFaults = { down: new Set(), cut: new Set(), delay: Duration.zero }
  constructor(readonly timeout: Duration.Duration = Duration.seconds(1)) {}

  register(address: string, endpoint: PeerEndpoint): void {
    this.endpoints.set(address, endpoint)
  }

  reachable(from: string, to: string): PeerEndpoint | undefined {
    if (this.faults.down.has(to) || this.faults.down.has(from) || this.faults.cut.has(`${from}->${to}`)) return undefined
    return this.endpoints.get(to)
  }

  /** The PeerClient of the node at `self`. */
  layer(self: string): Layer.Layer<PeerClient> {
    return Layer.effect(PeerClient, Effect.map(Effect.runtime<never>(), (runtime) => makeClient(this, self, runtime)))
  }
}

/** A refusal reaches the asker as it does over gRPC: the peer is unavailable for this, with the reason. */
const refused = (address: string, error: EpochMismatch) => new PeerUnavailable({ address, reason: `FAILED_PRECONDITION: ${error.message}` })

const makeClient = (network: MemoryNetwork, self: string, runtime: Runtime.Runtime<never>): PeerClientShape => {
  const timeoutMs = Duration.toMillis(network.timeout)
  /** Delivers after the delay, or fails like a real call would. */
  const deliver = <A>(to: string, use: (endpoint: PeerEndpoint) => Effect.Effect<A>): Effect.Effect<A, PeerError> =>
    Effect.zipRight(
      Effect.sleep(network.faults.delay),
      Effect.suspend((): Effect.Effect<A, PeerError> => {
        if (!network.endpoints.has(to)) return Effect.fail(new PeerUnavailable({ address: to, reason: "no such node" }))
        const endpoint = network.reachable(self, to)
        return endpoint === undefined
          ? Effect.zipRight(Effect.sleep(network.timeout), Effect.fail(new PeerTimeout({ address: to, timeoutMs })))
          : use(endpoint)
      })
    )
  const runFork = Runtime.runFork(runtime)
  return {
    replicate: (address, request, onDone) => {
      runFork(
        // A replica behind the coordinator learns its configuration first, as over gRPC.
        deliver(address, (endpoint) =>
          request.epoch > endpoint.epoch()
            ? Effect.zipRight(endpoint.catchUp(request.epoch, self), Effect.sync(() => endpoint.replicate(request)))
            : Effect.sync(() => endpoint.replicate(request))).pipe(
          Effect.flatMap((reply) =>
            // The answer travels back over the same network.
            Effect.zipRight(
              Effect.sleep(network.faults.delay),
              network.reachable(address, self) === undefined
                ? Effect.zipRight(Effect.sleep(network.timeout), Effect.fail(new PeerTimeout({ address, timeoutMs })))
                : Effect.succeed(reply)
            )
          ),
          Effect.match({ onFailure: (error) => onDone(error), onSuccess: (reply: ReplicaReply) => onDone(reply) })
        )
      )
    },
    ping: (address, message) => deliver(address, (endpoint) => endpoint.ping(message)),
    pingReq: (address, message) => deliver(address, (endpoint) => endpoint.pingReq(message)),
    placement: (address, request) => deliver(address, (endpoint) => endpoint.placement(request)),
    digests: (address, request) =>
      deliver(address, (endpoint) => Effect.either(endpoint.digests(request))).pipe(
        Effect.flatMap((answer) => (answer._tag === "Right" ? Effect.succeed(answer.right) : Effect.fail(refused(address, answer.left))))
      ),
    pull: (address, request) =>
      Stream.unwrap(deliver(address, (endpoint) => Effect.succeed(endpoint.pull(request)))).pipe(
        Stream.mapError((error) => (error._tag === "EpochMismatch" ? refused(address, error) : error))
      ),
    disconnect: () => undefined
  }
}
