import type * as grpc from "@grpc/grpc-js"
import { type Channel, createChannel, createClient } from "nice-grpc"
import { ADMIN_RPC_PATH } from "../../../src/admin/AdminRpcs.js"
import { type CacheServiceClient, CacheServiceDefinition } from "../../../src/generated/pb/cache.js"
import { addressesOn, clusterReady, type NodeProcess, spawnNode } from "../../../testkit/nodeProcess.js"
import type { FuzzContext } from "./messages.js"
import type { Limits } from "./primitives.js"
import { rawClient } from "./rawGrpc.js"
import { type Caller, type FuzzTarget, SPARE_HOSTS } from "./targets.js"

/** Limits the nodes run with (their defaults), which the arbitraries aim at. */
export const LIMITS: Limits = { maxKeyBytes: 4096, maxValueBytes: 1 << 20, maxMessageBytes: 4 * 1024 * 1024 }

/**
 * Settings of every fuzzed node on top of its target's. CAPACITY is raised
 * so that the records the fuzz writes (thousands) never evict the known keys
 * by count; MAX_MEMORY stays at its default.
 */
const NODE_ENV: Record<string, string> = { CAPACITY: "200000" }

/** A live three-node cluster of one target, with clients that survive a restart of the cluster. */
export class FuzzCluster {
  nodes: Array<NodeProcess> = []
  addresses: Array<string> = []
  admins: Array<string> = []
  /** When each node's process exited (performance.now()), if it did. */
  readonly exitedAt = new Map<NodeProcess, number>()
  private clients = new Map<string, grpc.Client>()
  private channels: Array<Channel> = []
  private cacheClients = new Map<number, CacheServiceClient>()
  private spare: Array<string> = []

  constructor(readonly target: FuzzTarget) {}

  async start(): Promise<void> {
    const addresses = await addressesOn(this.target.hosts)
    this.spare = await addressesOn(SPARE_HOSTS) // free now; nobody in this suite listens there
    this.nodes = addresses.map((addr) =>
      spawnNode({ ...NODE_ENV, ...this.target.env, ADDR: addr, PEERS: addresses.filter((a) => a !== addr).join(",") })
    )
    for (const node of this.nodes) void node.exited.then(() => this.exitedAt.set(node, performance.now()))
    this.addresses = addresses
    await clusterReady(this.nodes, 3)
    this.admins = await Promise.all(this.nodes.map((node) => node.adminAddress()))
  }

  /** Kills every node (SIGKILL: the fuzz may have left them wedged) and closes every client. */
  async stop(): Promise<void> {
    for (const client of this.clients.values()) client.close()
    this.clients.clear()
    for (const channel of this.channels.splice(0)) channel.close()
    this.cacheClients.clear()
    await Promise.all(this.nodes.map((node) => node.stop("SIGKILL")))
  }

  /** A fresh cluster on new ports after a node crashed: the run goes on to find what else there is. */
  async restart(): Promise<void> {
    await this.stop()
    this.exitedAt.clear()
    await this.start()
  }

  /** A raw client of node `i` as `caller`, one per caller and node. */
  raw(caller: Caller, i: number): grpc.Client {
    const key = `${caller.name}@${this.addresses[i]}`
    let client = this.clients.get(key)
    if (client === undefined) {
      client = rawClient(this.addresses[i]!, caller.credentials(), caller.channelOptions)
      this.clients.set(key, client)
    }
    return client
  }

  /** A pb.CacheService client of node `i` (for the known keys), one per node. */
  cache(i: number) {
    let client = this.cacheClients.get(i)
    if (client === undefined) {
      const channel = createChannel(this.addresses[i]!, this.target.client.credentials(), this.target.client.channelOptions)
      this.channels.push(channel)
      client = createClient(CacheServiceDefinition, channel)
      this.cacheClients.set(i, client)
    }
    return client
  }

  /** Calls an admin procedure of node `i` (the JSON protocol of @effect/rpc, as `pnpm cli` speaks it). */
  async admin<A>(i: number, tag: string, payload: unknown = {}): Promise<A> {
    const response = await fetch(`http://${this.admins[i]}${ADMIN_RPC_PATH}`, {
      method: "POST",
      headers: { "content-type": "application/json", ...this.target.adminHeaders },
      body: JSON.stringify({ _tag: "Request", id: "1", tag, payload, headers: [] }),
      signal: AbortSignal.timeout(10_000)
    })
    const [message] = (await response.json()) as Array<{ exit?: { _tag: string; value: A } }>
    if (message?.exit?._tag !== "Success") throw new Error(`admin ${tag} on node ${i}: ${JSON.stringify(message)}`)
    return message.exit.value
  }

  /** What the arbitraries need from the cluster now: epoch, generations, ring tokens. */
  async context(limits: Limits): Promise<FuzzContext> {
    const statuses = await Promise.all(this.nodes.map((_, i) => this.admin<{ generation: number; ringEpoch: number }>(i, "Status")))
    const ring = await this.admin<{ ranges?: ReadonlyArray<{ end: number }> }>(0, "Ring", { ranges: true })
    const ends = (ring.ranges ?? []).map((r) => r.end)
    const step = Math.max(1, Math.floor(ends.length / 16))
    return {
      addresses: this.addresses,
      generations: statuses.map((s) => s.generation),
      epoch: Math.max(...statuses.map((s) => s.ringEpoch)),
      tokens: ends.filter((_, i) => i % step === 0).slice(0, 16).concat(ends.length === 0 ? [0] : []),
      spare: this.spare,
      limits,
      nowHlc: Date.now() * 1024
    }
  }

  /** Nodes whose process is gone, with how it ended. */
  dead(): Array<{ node: number; how: string }> {
    return this.nodes.flatMap((node, i) =>
      node.child.exitCode === null && node.child.signalCode === null
        ? []
        : [{ node: i, how: node.child.signalCode !== null ? `killed by ${node.child.signalCode}` : `exited with code ${node.child.exitCode}` }]
    )
  }
}
