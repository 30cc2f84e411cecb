import { Chunk, Context, Effect, Either, Exit, Fiber, Layer, MutableRef, Option, Scope, SortedSet, Supervisor, TestAnnotation, TestClock, TestServices } from "effect"
import { AntiEntropy } from "../src/antientropy/AntiEntropy.js"
import { DataMovement } from "../src/movement/DataMovement.js"
import { CacheApi } from "../src/api/CacheApi.js"
import { NodeConfig, type NodeConfigShape } from "../src/config/NodeConfig.js"
import { parseHostPort } from "../src/config/parse.js"
import { makeCore } from "../src/Layers.js"
import { Membership } from "../src/membership/Membership.js"
import type { MemoryNetwork } from "../src/peer/PeerMemory.js"
import { LocalReplica } from "../src/replication/LocalReplica.js"
import { Metrics } from "../src/telemetry/Metrics.js"
import { Telemetry } from "../src/telemetry/Telemetry.js"
import { Ring } from "../src/placement/Ring.js"
import { Store } from "../src/store/ShardedStore.js"

const hostPort = (address: string) => {
  const parsed = parseHostPort(address)
  if (!parsed.ok) throw new Error(parsed.error)
  return parsed.value
}

/**
 * A supervisor whose fibers TestClock waits on: before each step of the
 * clock, every fiber it saw start must be suspended or done. Without it the
 * clock waits only a few timer ticks, so on a loaded machine it could move on
 * while a node (whose deliveries run as fibers of their own) was still busy,
 * and time-outs would fire that never would on an idle one.
 */
export const watchedByTestClock = Effect.gen(function*() {
  const fibers = MutableRef.make(SortedSet.empty<Fiber.RuntimeFiber<unknown, unknown>>(Fiber.Order))
  yield* TestServices.annotate(TestAnnotation.fibers, Either.right(Chunk.of(fibers)))
  return yield* Supervisor.fibersIn(fibers)
})

/**
 * Builds one in-process node on a MemoryNetwork (SWIM, ring agreement,
 * coordinator, store, all real; only the transport is in memory), registers
 * it and starts its part in ring agreement. Runs
 * on the caller's clock, so TestClock drives probes and delays.
 */
export const simNode = (
  network: MemoryNetwork,
  address: string,
  seeds: ReadonlyArray<string>,
  overrides: Partial<NodeConfigShape> = {}
) =>
  Effect.gen(function*() {
    const cluster = Ring.Default.pipe(Layer.provideMerge(Membership.Default), Layer.provideMerge(network.layer(address)))
    // The in-memory network has no listener to protect: its 10.x addresses need no peer authentication.
    const config = NodeConfig.layer({ addr: hostPort(address), peers: seeds.map(hostPort), rateLimit: 0, insecureCluster: true, ...overrides })
    const scope = yield* Scope.make()
    const context = yield* Layer.buildWithScope(makeCore(cluster).pipe(Layer.provideMerge(config), Layer.provide(Telemetry.layerOff)), scope).pipe(
      Effect.supervised(yield* watchedByTestClock)
    )
    // Shutting a node down waits on its clock (the leave announcement has a
    // timeout), so the test clock is driven until it is done.
    const stop = Effect.gen(function*() {
      const closing = yield* Effect.fork(Scope.close(scope, Exit.void))
      while (Option.isNone(yield* Fiber.poll(closing))) yield* TestClock.adjust("100 millis")
    })
    yield* Effect.addFinalizer(() => stop)
    const membership = Context.get(context, Membership)
    const replica = Context.get(context, LocalReplica)
    const ring = Context.get(context, Ring)
    network.register(address, {
      replicate: replica.handle,
      epoch: ring.epoch,
      catchUp: (epoch, from) => Effect.asVoid(Effect.timeoutOption(ring.learn(epoch, from), "1 second")),
      ping: membership.onPing,
      pingReq: membership.onPingReq,
      placement: ring.handle,
      pull: Context.get(context, DataMovement).serve,
      digests: Context.get(context, AntiEntropy).digests
    })
    yield* ring.start
    return {
      address,
      stop,
      api: Context.get(context, CacheApi),
      membership,
      ring: Context.get(context, Ring),
      store: Context.get(context, Store),
      metrics: Context.get(context, Metrics)
    }
  })

export type SimNode = Effect.Effect.Success<ReturnType<typeof simNode>>
