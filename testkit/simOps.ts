import { Duration, Effect, Either, Fiber, Option, TestClock } from "effect"
import { Entry } from "../src/store/entry.js"
import type { SimNode } from "./sim.js"

/** Runs `effect` while driving the test clock in 50 ms steps; fails the test if it is not done within `limit`. */
export const drive = <X, E>(effect: Effect.Effect<X, E>, limit = Duration.seconds(60), what = "it") =>
  Effect.gen(function*() {
    const fiber = yield* Effect.fork(effect)
    for (let waited = 0; ; waited += 50) {
      const exit = yield* Fiber.poll(fiber)
      if (Option.isSome(exit)) return yield* exit.value
      if (waited >= Duration.toMillis(limit)) return yield* Effect.die(new Error(`${what}: not done after ${waited} ms`))
      yield* TestClock.adjust("50 millis")
    }
  })

/** Drives the test clock until `done()` holds; fails the test if it does not within `limit`. */
export const advanceUntil = (done: () => boolean, limit: Duration.Duration, what: string) =>
  drive(Effect.gen(function*() {
    while (!done()) yield* Effect.sleep("100 millis")
  }), limit, what)

/** Whether `node` is a member of a stable ring of exactly `members`. */
export const stableWith = (node: SimNode, members: ReadonlyArray<string>) => {
  const view = node.ring.current()
  return view?.stable === true && view.config.members.map((m) => m.address).join() === [...members].sort().join() && node.ring.status() === "member"
}

/** Writes `count` keys through the nodes in turn (QUORUM); returns the ones acknowledged, with their values. */
export const writeKeys = (nodes: ReadonlyArray<SimNode>, count: number, round: string) =>
  drive(Effect.forEach(Array.from({ length: count }, (_, i) => i), (i) => {
    const key = `k${i}`
    const value = `${round}-${i}`
    return Effect.either(nodes[i % nodes.length]!.api.set({ key, value, ttlSeconds: 0, consistency: "QUORUM" })).pipe(
      Effect.map((outcome) => (Either.isRight(outcome) ? [key, value] as const : undefined))
    )
  }, { concurrency: 8 })).pipe(Effect.map((outcomes) => new Map(outcomes.filter((o) => o !== undefined))))

/** Reads a key through `node` (QUORUM), trying again when a read fails (a movement may be under way). */
export const readValue = (node: SimNode, key: string) =>
  node.api.get(key, "QUORUM").pipe(
    Effect.map(Option.map((found) => found.value)),
    Effect.retry({ times: 5 })
  )

/** Every acknowledged write, read back through every node. */
export const readAll = (nodes: ReadonlyArray<SimNode>, acknowledged: ReadonlyMap<string, string>) =>
  drive(Effect.forEach(nodes, (node) =>
    Effect.forEach([...acknowledged], ([key, value]) =>
      Effect.map(readValue(node, key), (got) => (Option.getOrUndefined(got) === value ? undefined : { at: node.address, key, value, got: Option.getOrUndefined(got) })), { concurrency: 8 }).pipe(
      Effect.map((wrong) => wrong.filter((w) => w !== undefined))
    )).pipe(Effect.map((perNode) => perNode.flat())))

/** How many of `nodes` hold `value` for `key` in their stores. */
export const holders = (nodes: ReadonlyArray<SimNode>, key: string, value: string) =>
  nodes.filter((node) => {
    const found = node.store.read(key)
    return found instanceof Entry && found.value === value
  }).length
