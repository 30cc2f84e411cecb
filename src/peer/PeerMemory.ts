import { Clock, Deferred, Duration, Effect, Layer, Random, Runtime, Stream } from "effect"
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
  /** Directed links ("from->to") whose messages arrive this much later: past the caller's timeout, they land unanswered. */
  readonly clogged: Map<string, Duration.Duration>
  /** Delay of each delivery. */
  delay: Duration.Duration
  /** Extra delay of each delivery, uniform in [0, jitter): messages overtake each other. */
  jitter: Duration.Duration
  /** Probability that a message (request or answer) is lost: the caller times out. */
  loss: number
  /** Probability that a request is delivered twice (the second answer goes nowhere). */
  duplication: number
}

export interface NetworkOptions {
  /** How long a caller waits for an answer (RPC_TIMEOUT); default 1 s. */
  readonly timeout?: Duration.Duration
  /** One seed for every random choice of the network (loss, jitter, duplication). */
  readonly seed?: number
  readonly faults?: Partial<Omit<NetworkFaults, "down" | "cut" | "clogged">>
}

/**
 * An in-process network of nodes for tests: each node registers its
 * `PeerEndpoint`; messages travel on the test's clock with the faults set
 * in `faults`. A request is handled by the receiver whether or not the
 * caller still waits, as on a real network; a caller with no answer within
 * `timeout` fails with `PeerTimeout`.
 */
export class MemoryNetwork {
  readonly endpoints = new Map<string, PeerEndpoint>()
  readonly faults: NetworkFaults
  readonly timeout: Duration.Duration
  readonly random: Random.Random

  constructor(options: Duration.Duration | NetworkOptions = {}) {
    const { timeout = Duration.seconds(1), seed = 1, faults = {} } = Duration.isDuration(options) ? { timeout: options } : options
    this.timeout = timeout
    this.random = Random.make(seed)
    this.faults = {
      down: new Set(),
      cut: new Set(),
      clogged: new Map(),
      delay: Duration.zero,
      jitter: Duration.zero,
      loss: 0,
      duplication: 0,
      ...faults
    }
  }

  register(address: string, endpoint: PeerEndpoint): void {
    this.endpoints.set(address, endpoint)
  }

  reachable(from: string, to: string): PeerEndpoint | undefined {
    if (this.faults.down.has(to) || this.faults.down.has(from) || this.faults.cut.has(`${from}->${to}`)) return undefined
    return this.endpoints.get(to)
  }

  /** When the last message on each link is due: without jitter a link is first in, first out, like one TCP connection. */
  private readonly lastDue = new Map<string, number>()

  /** Carries one message from `from` to `to`: waits its delay; false when it was lost on the way. */
  travel(from: string, to: string): Effect.Effect<boolean> {
    const network = this
    return Effect.gen(function*() {
      const { jitter, loss } = network.faults
      const jitterMs = Duration.toMillis(jitter)
      yield* network.arrive(from, to, jitterMs > 0 ? (yield* network.random.next) * jitterMs : 0)
      if (network.reachable(from, to) === undefined) return false
      return loss <= 0 || (yield* network.random.next) >= loss
    })
  }

  /**
   * Waits out one message's way from `from` to `to`: the delay, the link's
   * clog and `extraMs`. Without extra delay a link is first in, first out,
   * like one TCP connection: equal wake-up times would come out last first,
   * so each message is due strictly after the link's previous one.
   */
  arrive(from: string, to: string, extraMs = 0): Effect.Effect<void> {
    const network = this
    return Effect.gen(function*() {
      const { delay, clogged } = network.faults
      const link = `${from}->${to}`
      const nowMs = yield* Clock.currentTimeMillis
      let due = nowMs + Duration.toMillis(delay) + extraMs + Duration.toMillis(clogged.get(link) ?? Duration.zero)
      if (extraMs === 0) {
        due = Math.max(due, (network.lastDue.get(link) ?? 0) + 0.001)
        network.lastDue.set(link, due)
      }
      yield* Effect.sleep(Duration.millis(due - nowMs))
    })
  }

  /** Whether any fault beyond down nodes, cut links and a fixed delay is set: then each message travels on its own. */
  unruly(): boolean {
    const { jitter, loss, duplication, clogged } = this.faults
    return Duration.toMillis(jitter) > 0 || loss > 0 || duplication > 0 || clogged.size > 0
  }

  chance(probability: number): Effect.Effect<boolean> {
    return probability <= 0 ? Effect.succeed(false) : Effect.map(this.random.next, (x) => x < probability)
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
  const runFork = Runtime.runFork(runtime)

  /**
   * A request to `to` handled by `use` there, and its answer back. The
   * message goes on in a fiber of its own: a caller that stops waiting (its
   * timeout, or `timeout` here) does not stop the receiver from handling it.
   */
  const call = <A, E>(to: string, use: (endpoint: PeerEndpoint) => Effect.Effect<A, E>): Effect.Effect<A, E | PeerError> =>
    Effect.gen(function*() {
      const endpoint = network.endpoints.get(to)
      if (endpoint === undefined) return yield* new PeerUnavailable({ address: to, reason: "no such node" })
      if (!network.unruly()) return yield* direct(to, use)
      const answer = yield* Deferred.make<A, E>()
      const deliverOnce = Effect.gen(function*() {
        if (!(yield* network.travel(self, to))) return
        const result = yield* Effect.exit(use(endpoint))
        if (yield* network.travel(to, self)) yield* Deferred.complete(answer, result)
      })
      runFork(Effect.zipRight(deliverOnce, Effect.whenEffect(deliverOnce, network.chance(network.faults.duplication))))
      return yield* Deferred.await(answer).pipe(
        Effect.timeoutFail({ duration: network.timeout, onTimeout: () => new PeerTimeout({ address: to, timeoutMs }) })
      )
    })

  /** On a network with only down nodes, cut links and a fixed delay: the call in the caller's fiber, each link in order. */
  const direct = <A, E>(to: string, use: (endpoint: PeerEndpoint) => Effect.Effect<A, E>): Effect.Effect<A, E | PeerError> => {
    const lost = (address: string) => Effect.zipRight(Effect.sleep(network.timeout), Effect.fail(new PeerTimeout({ address, timeoutMs })))
    return Effect.zipRight(
      network.arrive(self, to),
      Effect.suspend(() => {
        const endpoint = network.reachable(self, to)
        if (endpoint === undefined) return lost(to)
        return Effect.flatMap(use(endpoint), (answer) =>
          Effect.zipRight(
            network.arrive(to, self),
            Effect.suspend(() => (network.reachable(to, self) === undefined ? lost(to) : Effect.succeed(answer)))
          ))
      })
    )
  }

  return {
    replicate: (address, request, onDone) => {
      runFork(
        // A replica behind the coordinator learns its configuration first, as over gRPC.
        call(address, (endpoint) =>
          request.epoch > endpoint.epoch()
            ? Effect.zipRight(endpoint.catchUp(request.epoch, self), Effect.sync(() => endpoint.replicate(request)))
            : Effect.sync(() => endpoint.replicate(request))).pipe(
          Effect.match({ onFailure: (error) => onDone(error), onSuccess: (reply: ReplicaReply) => onDone(reply) })
        )
      )
    },
    ping: (address, message) => call(address, (endpoint) => endpoint.ping(message)),
    pingReq: (address, message) => call(address, (endpoint) => endpoint.pingReq(message)),
    placement: (address, request) => call(address, (endpoint) => endpoint.placement(request)),
    digests: (address, request) =>
      call(address, (endpoint) => endpoint.digests(request)).pipe(
        Effect.mapError((error) => (error._tag === "EpochMismatch" ? refused(address, error) : error))
      ),
    pull: (address, request) =>
      Stream.unwrap(call(address, (endpoint) => Effect.succeed(endpoint.pull(request)))).pipe(
        Stream.mapError((error) => (error._tag === "EpochMismatch" ? refused(address, error) : error))
      ),
    disconnect: () => Effect.void
  }
}
