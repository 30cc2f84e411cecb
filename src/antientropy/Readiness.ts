import { Effect } from "effect"
import { NodeConfig } from "../config/NodeConfig.js"
import { formatHostPort } from "../config/parse.js"
import type { HashRing } from "../ring/HashRing.js"
import { Membership } from "../membership/Membership.js"
import { Ring } from "../ring/Ring.js"

/**
 * Which keys this node votes on as a replica. A node votes on a key only if
 * it holds every acknowledged write of it: it replicates the key on the
 * ring it last synced against (`synced`). A node that starts with peers to
 * join holds nothing in full until it has pulled its ranges (a pending
 * replica); one whose ranges grow on a ring change does not vote on the new
 * ones until it has pulled them; a leaving node votes on nothing. Keys the
 * node does not replicate on its current ring are answered as usual (a
 * hand-off to a future owner, or a coordinator with an older ring).
 */
export class Readiness extends Effect.Service<Readiness>()("cache/antientropy/Readiness", {
  effect: Effect.gen(function*() {
    const config = yield* NodeConfig
    const ring = yield* Ring
    const membership = yield* Membership
    const self = formatHostPort(config.addr)
    const standalone = config.peers.every((peer) => formatHostPort(peer) === self)
    // A node without peers is a whole cluster: it holds everything there is.
    let synced: HashRing | undefined = standalone ? ring.current() : undefined
    let leaving = false

    return {
      /** Whether this node's answer about a key may count towards a quorum. */
      votesOn: (key: string): boolean => {
        if (leaving) return false
        const current = ring.current()
        if (synced === current) return true // the common case: no hashing
        const keyHash = ring.hash(key)
        return synced?.replicates(self, keyHash) === true || !current.replicates(self, keyHash)
      },
      /** The ring whose ranges this node holds in full; undefined while it holds none. */
      synced: (): HashRing | undefined => synced,
      /** Records that this node holds every acknowledged write of the keys it replicates on `next`. */
      markSynced: (next: HashRing) =>
        Effect.sync(() => {
          synced = next
        }),
      /** Forgets every range held in full: this node must pull them all again before it votes. */
      markUnsynced: Effect.sync(() => {
        synced = undefined
      }),
      /**
       * Whether the node should get client traffic (`/readyz`, gRPC health):
       * it has joined the cluster and holds its ranges in full once. Ranges
       * gained later on a ring change are pulled while it stays ready: its
       * answers on them do not count until then, and it still coordinates.
       */
      serving: (): { readonly ready: boolean; readonly reason: string } => {
        if (leaving) return { ready: false, reason: "leaving the cluster" }
        if (!membership.joined()) return { ready: false, reason: "joining: no seed has answered yet" }
        if (synced === undefined) return { ready: false, reason: "pulling its ranges from the other replicas" }
        return { ready: true, reason: synced === ring.current() ? "serving" : "serving; pulling ranges gained on a ring change" }
      },
      /** Stops voting for good: the node is handing its data over before it leaves. */
      beginLeaving: Effect.sync(() => {
        leaving = true
      })
    } as const
  })
}) {}
