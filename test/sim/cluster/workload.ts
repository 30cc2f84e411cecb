import * as V from "../../../src/clock/version.js"
import type { Version } from "../../../src/clock/version.js"
import type { ConfigView } from "../../../src/placement/ConfigView.js"
import type { HelloResponse } from "../../../src/protocol/placement.js"
import type { ReplicaReply, ReplicaRequest } from "../../../src/protocol/replica.js"
import { majority } from "../../../src/replication/consistency.js"
import { type Fenced, type ReadVerdict, ReadRound, type ReadWinner, type WriteVerdict, WriteRound } from "../../../src/replication/quorum.js"
import type { Write } from "../../../src/store/entry.js"
import type { Operation, Outcome } from "../../../testkit/linearizability/history.js"
import type { SimCluster, SimNode } from "./SimCluster.js"

/** Rounds a request makes at most (stale retries and newer rings followed). */
const MAX_ROUNDS = 8

type Failure = { readonly _tag: "PeerTimeout" }
const TIMEOUT: Failure = { _tag: "PeerTimeout" }

/**
 * The coordinator's algorithm on the simulated network, built from the
 * node's own pieces: its agreed configuration's replica sets, the real
 * quorum rounds, and the real replica rule at every replica. A write goes
 * to every write replica with one version and succeeds with a quorum of
 * each set; a stale attempt nobody took is retried above what it met; one a
 * replica on a newer ring refused is retried with the same version after
 * learning that ring. A read takes the newest of a quorum and writes it
 * back to a quorum of every write set when the answers disagree (ABD).
 */
export class SimCoordinator {
  /** Set to see every round (for a failing seed). */
  trace: ((line: string) => void) | undefined

  constructor(private readonly cluster: SimCluster) {}

  private node(address: string): SimNode | undefined {
    const node = this.cluster.nodes.get(address)
    return node?.host.up === true ? node : undefined
  }

  /** Sends one replica operation from `from` to `to`; a replica behind the operation's epoch learns it, and cannot answer this time. */
  private send(from: SimNode, to: string, request: ReplicaRequest, onReply: (reply: ReplicaReply | Failure) => void): void {
    if (to === from.address) return onReply(from.data!.replica(request))
    this.cluster.network.call<ReplicaReply>(from.address, to, () => {
      const target = this.node(to)
      if (target === undefined) return undefined
      if (request.epoch > target.core.epoch) this.learn(target, from.address)
      return target.data!.replica(request)
    }, (reply) => onReply(reply ?? TIMEOUT))
  }

  /** `node` asks `from` for its configuration, then calls `then` (whatever came of it). */
  learn(node: SimNode, from: string, then?: () => void): void {
    this.cluster.network.call<HelloResponse>(node.address, from, () => this.node(from)?.core.onHello({ from: node.identity, seeds: [] }), (hello) => {
      if (hello?.config !== undefined) node.core.install(hello.config, this.cluster.agenda.nowMs)
      then?.()
    })
  }

  private writeRound(
    from: SimNode,
    key: string,
    groups: ReadonlyArray<{ readonly replicas: ReadonlyArray<string>; readonly required: number }>,
    write: Write,
    epoch: number,
    done: (verdict: WriteVerdict) => void
  ): void {
    const round = new WriteRound(groups)
    const targets = [...new Set(groups.flatMap((g) => g.replicas))]
    let decided = false
    const replies: Array<string> = []
    for (const to of targets) {
      this.send(from, to, { key, write, epoch }, (reply) => {
        replies.push(`${to.slice(7, 8)}:${reply._tag}`)
        if (decided) return
        const verdict = round.record(to, reply)
        if (verdict !== undefined) {
          decided = true
          this.trace?.(`${this.cluster.agenda.nowMs.toFixed(0)} write ${key}=${String(write.value)} v${write.version.hlc % 100000} at ${from.address.slice(7, 8)} e${epoch} groups ${JSON.stringify(groups.map((g) => g.replicas.map((a) => a.slice(7, 8)).join("")))} -> ${verdict._tag} [${replies.join(" ")}]`)
          done(verdict)
        }
      })
    }
    if (targets.length === 0) done({ _tag: "Unavailable", acked: 0, replicas: 0, required: 1 })
  }

  private groupsOf(view: ConfigView, key: string) {
    return view.writeGroups(this.cluster.ring.hash(key)).map((replicas) => ({ replicas, required: majority(replicas.length) }))
  }

  /** The configuration `node` coordinates with, or undefined when it may not (not a member). */
  private routing(node: SimNode): ConfigView | undefined {
    const status = node.core.status
    return status === "member" || status === "leaving" ? node.core.current : undefined
  }

  write(node: SimNode, key: string, value: string | undefined, done: (outcome: Outcome) => void, expiresAtMs = 0): void {
    const first = this.routing(node)
    if (first === undefined) return done("fail")
    let version = node.data!.next()
    let rounds = 0
    // Landed (or may have) in an earlier round: never retried at a newer version.
    let landed = false
    const attempt = (view: ConfigView) => {
      if (!node.host.up) return
      this.writeRound(node, key, this.groupsOf(view, key), { version, value, expiresAtMs }, view.epoch, (verdict) => {
        if (++rounds >= MAX_ROUNDS) return done("unknown")
        switch (verdict._tag) {
          case "Written":
            return done("ok")
          case "Stale":
            if (landed) return done("unknown")
            node.data!.observe(verdict.newest)
            version = node.data!.next()
            return attempt(view)
          case "Fenced":
            landed ||= verdict.landed
            return this.follow(node, verdict, (next) => (next === undefined ? done("unknown") : attempt(next)))
          default:
            return done("unknown") // Superseded, Unavailable: it may have landed somewhere
        }
      })
    }
    attempt(first)
  }

  /** Learns the ring a replica refused with, then goes on with whatever the node now routes with. */
  private follow(node: SimNode, fenced: Fenced, then: (view: ConfigView | undefined) => void): void {
    this.learn(node, fenced.from, () => then(this.routing(node)))
  }

  read(node: SimNode, key: string, done: (outcome: Outcome, value?: string | undefined) => void): void {
    const first = this.routing(node)
    if (first === undefined) return done("fail")
    let rounds = 0
    const attempt = (view: ConfigView) => {
      if (!node.host.up) return
      const replicas = view.readReplicas(this.cluster.ring.hash(key))
      const round = new ReadRound(replicas.length, majority(replicas.length))
      let decided = false
      const replies: Array<string> = []
      const settle = (verdict: ReadVerdict) => {
        if (++rounds >= MAX_ROUNDS) return done("fail")
        if (verdict._tag === "Unavailable") return done("fail")
        if (verdict._tag === "Fenced") return this.follow(node, verdict, (next) => (next === undefined ? done("fail") : attempt(next)))
        const winner = verdict.winner
        // A replica may have forgotten a newer version: "not found", made to stick with a deletion (as the coordinator does).
        if (verdict.forgotten) return this.write(node, key, undefined, (outcome) => done(outcome === "ok" ? "ok" : "fail"))
        if (winner !== undefined) node.data!.observe(winner.version)
        const answer = () => done("ok", winner?._tag === "Found" ? String(winner.value) : undefined)
        // As the coordinator does: during a movement the winner must reach a quorum of every write set.
        const joint = this.groupsOf(view, key).length > 1
        if ((!verdict.needsWriteBack && !joint) || winner === undefined) return answer()
        this.writeBack(node, key, view, winner, verdict.holders, (written) => {
          if (written._tag === "Written") return answer()
          if ((written._tag === "Stale" || written._tag === "Superseded") && V.compare(written.newest, winner.version) === 0) {
            if (winner._tag === "Deleted") return answer() // a deletion collected where it was refused: it stands
            return this.write(node, key, undefined, (outcome) => done(outcome === "ok" ? "ok" : "fail"))
          }
          if (written._tag === "Fenced") return this.follow(node, written, (next) => (next === undefined ? done("fail") : attempt(next)))
          if (written._tag === "Unavailable") return done("fail")
          attempt(view) // a newer write raced with this read: read again
        })
      }
      if (replicas.length === 0) return done("fail")
      for (const to of replicas) {
        this.send(node, to, { key, write: undefined, epoch: view.epoch }, (reply) => {
          replies.push(`${to.slice(7, 8)}:${reply._tag}${reply._tag === "Found" ? `=${String(reply.value)}` : ""}`)
          if (decided) return
          const verdict = round.record(to, reply)
          if (verdict !== undefined) {
            decided = true
            this.trace?.(`${this.cluster.agenda.nowMs.toFixed(0)} read ${key} at ${node.address.slice(7, 8)} e${view.epoch} replicas ${replicas.map((a) => a.slice(7, 8)).join("")} -> ${verdict._tag} ${verdict._tag === "Read" ? String(verdict.winner?._tag === "Found" ? verdict.winner.value : "-") : ""} [${replies.join(" ")}]`)
            settle(verdict)
          }
        })
      }
    }
    attempt(first)
  }

  private writeBack(
    node: SimNode,
    key: string,
    view: ConfigView,
    winner: ReadWinner,
    holders: ReadonlyArray<string>,
    done: (verdict: WriteVerdict) => void
  ): void {
    const groups = this.groupsOf(view, key).map((group) => ({
      replicas: group.replicas.filter((a) => !holders.includes(a)),
      required: Math.max(0, group.required - group.replicas.filter((a) => holders.includes(a)).length)
    }))
    if (groups.every((g) => g.required === 0)) return done({ _tag: "Written", existed: true })
    const write: Write = winner._tag === "Found"
      ? { version: winner.version, value: winner.value, expiresAtMs: winner.expiresAtMs }
      : { version: winner.version, value: undefined, expiresAtMs: 0 }
    this.writeRound(node, key, groups, write, view.epoch, done)
  }
}

/** Version order, for clients that want to compare (unused by the checker). */
export const newer = (a: Version, b: Version) => V.compare(a, b) > 0

export interface ClientOptions {
  readonly clients: number
  readonly keys: number
  /** How long a client waits for an answer before it takes the outcome as unknown. */
  readonly deadlineMs: number
  readonly untilMs: number
  /** A third of the sets expire 0.1 to 3 s after they are made. */
  readonly ttls?: boolean
}

/**
 * Clients issuing Get/Set/Delete one after another against random running
 * nodes, recording invocation, completion and outcome on the simulated
 * clock; after `untilMs`, one final read of every key (retried until it
 * answers). The history is what the linearizability checker judges.
 */
export const runClients = (cluster: SimCluster, options: ClientOptions, trace?: (line: string) => void): Array<Operation> => {
  const history: Array<Operation> = []
  const coordinator = new SimCoordinator(cluster)
  coordinator.trace = trace
  const { agenda, rng } = cluster
  let nextId = 0
  let written = 0
  const perform = (client: number, key: string, kind: Operation["kind"], then: (outcome: Outcome) => void) => {
    const candidates = [...cluster.nodes.values()].filter((n) => n.host.up && n.data !== undefined)
    const node = candidates.length === 0 ? undefined : rng.pick(candidates)
    const id = nextId++
    const invokedAtMs = agenda.nowMs
    const value = kind === "set" ? `c${client}-${written++}` : undefined
    const expiresAtMs = kind === "set" && options.ttls === true && rng.chance(1 / 3) ? agenda.nowMs + rng.int(100, 3000) : 0
    let finished = false
    const finish = (outcome: Outcome, read?: string) => {
      if (finished) return
      finished = true
      const completed = outcome === "unknown" ? undefined : agenda.nowMs
      history.push({ id, client, key, kind, value: kind === "get" ? read : value, invokedAtMs, completedAtMs: completed, outcome })
      then(outcome)
    }
    agenda.after(options.deadlineMs, () => finish(kind === "get" ? "fail" : "unknown"))
    if (node === undefined) return agenda.after(50, () => finish("fail"))
    const start = () => {
      if (kind === "get") coordinator.read(node, key, (outcome, read) => finish(outcome, read))
      else coordinator.write(node, key, value, (outcome) => finish(outcome), expiresAtMs)
    }
    // A paused process takes the call but runs nothing until it resumes: then it coordinates with
    // whatever ring it had when it froze (the stale coordinator that fencing must stop).
    if (node.host.paused) node.host.inbox.push(start)
    else start()
  }
  for (let c = 0; c < options.clients; c++) {
    const loop = () => {
      if (agenda.nowMs >= options.untilMs) return
      const roll = rng.next()
      const kind = roll < 0.5 ? "get" : roll < 0.9 ? "set" : "delete"
      perform(c, `k${rng.int(0, options.keys)}`, kind, (outcome) => agenda.after(outcome === "ok" ? rng.int(0, 20) : 50, loop))
    }
    agenda.after(rng.int(0, 50), loop)
  }
  // The final reads: every acknowledged write must still be visible (or overwritten).
  agenda.at(options.untilMs + options.deadlineMs * 2, () => {
    for (let k = 0; k < options.keys; k++) {
      let attempts = 0
      const again = () => perform(0, `k${k}`, "get", (outcome) => {
        if (outcome !== "ok" && ++attempts < 40) agenda.after(250, again)
      })
      again()
    }
  })
  return history
}
