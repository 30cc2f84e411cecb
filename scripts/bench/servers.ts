/**
 * The systems under test, as real processes on 127.0.0.x: the bare servers
 * (L, G), cache nodes started exactly as `pnpm start` starts them, and an
 * etcd cluster (E) for reference.
 */
import type { ChannelCredentials } from "@grpc/grpc-js"
import { type ChildProcess, spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { fileURLToPath } from "node:url"
import { connect } from "../../testkit/clients.js"
import { clusterReady, freePort, type NodeProcess, spawnNode } from "../../testkit/nodeProcess.js"
import { keyName } from "./keys.js"

/** What a scenario measures against: gRPC addresses, processes to watch, admin servers to scrape. */
export interface SystemUnderTest {
  readonly addresses: ReadonlyArray<string>
  readonly processes: ReadonlyArray<{ readonly label: string; readonly pid: number }>
  readonly admins: ReadonlyArray<string>
  /** Calls answered so far by "Method CODE", for a system without admins (etcd counts its own). */
  readonly codes?: () => Promise<Map<string, number>>
  /**
   * The code the servers count a call under when h2load cuts it off at the
   * end of its run (the client resets the stream): CANCELLED unless told.
   */
  readonly cutOffCode?: string
  readonly stop: () => Promise<void>
}

/** Settings every benchmarked node runs with: no rate limit, room for every key. */
const NODE_ENV = { RATE_LIMIT: "0", CAPACITY: "1000000", MAX_MEMORY: "2GiB", TTL: "0" }

/** A bare server of pb.CacheService: bareServer.ts (L, nice-grpc and ts-proto) or bareGrpcJsServer.ts (G, grpc-js and protobufjs). */
export const startBare = async (host: string, script: "bareServer.ts" | "bareGrpcJsServer.ts" = "bareServer.ts"): Promise<SystemUnderTest> => {
  const address = `${host}:${await freePort(host)}`
  const child = spawn(process.execPath, ["--import", "tsx", fileURLToPath(new URL(`./${script}`, import.meta.url)), address], {
    stdio: ["ignore", "pipe", "inherit"]
  })
  await new Promise<void>((resolve, reject) => {
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => chunk.includes("\"ready\"") && resolve())
    child.once("exit", (code) => reject(new Error(`${script} exited with ${code}`)))
  })
  return {
    addresses: [address],
    processes: [{ label: "bare server", pid: child.pid! }],
    admins: [],
    stop: async () => {
      child.kill("SIGKILL")
    }
  }
}

/** Starts `hosts.length` nodes that know each other and waits until each votes on its ranges. */
export const startNodes = async (hosts: ReadonlyArray<string>, env: Record<string, string> = {}) => {
  const addresses = await Promise.all(hosts.map(async (host) => `${host}:${await freePort(host)}`))
  const nodes = addresses.map((addr) => spawnNode({ ...NODE_ENV, ...env, ADDR: addr, PEERS: addresses.filter((a) => a !== addr).join(",") }))
  // A node without peers is a whole cluster at once; others wait until they vote on their ranges.
  if (nodes.length === 1) await nodes[0]!.waitForLog((line) => line["msg"] === "ready")
  else await clusterReady(nodes, nodes.length)
  return systemOf(nodes)
}

const PROFILED = process.env["CPU_PROFILE_DIR"] !== undefined

/** The live part of a set of nodes (after some were stopped). */
export const systemOf = async (nodes: ReadonlyArray<NodeProcess>): Promise<SystemUnderTest & { readonly nodes: ReadonlyArray<NodeProcess> }> => ({
  nodes,
  addresses: nodes.map((node) => node.address),
  processes: nodes.map((node, i) => ({ label: `node ${i + 1}`, pid: node.child.pid! })),
  admins: await Promise.all(nodes.map((node) => node.adminAddress())),
  // Killed, unless they write a CPU profile when they exit (`pnpm bench:profile`): then they shut down.
  stop: async () => {
    await Promise.all(nodes.map((node) => node.stop(PROFILED ? "SIGTERM" : "SIGKILL")))
  }
})

/** Writes every key once, so that Gets find them. */
export const populate = async (addresses: ReadonlyArray<string>, keys: number, valueSize: number, credentials?: ChannelCredentials) => {
  const clients = addresses.map((address) => connect(address, {}, credentials))
  const value = "v".repeat(valueSize)
  const batch = 64
  for (let i = 0; i < keys; i += batch) {
    await Promise.all(
      Array.from({ length: Math.min(batch, keys - i) }, (_, j) => clients[(i + j) % clients.length]!.cache.set({ key: keyName(i + j), value }))
    )
  }
  clients.forEach((client) => client.close())
}

/** An OTLP/HTTP endpoint that accepts spans and drops them, counting what arrived. */
export const startSpanSink = async (host: string) => {
  let requests = 0
  let bytes = 0
  const server = createServer((request, response) => {
    request.on("data", (chunk: Buffer) => (bytes += chunk.length))
    request.on("end", () => {
      requests++
      response.writeHead(200, { "content-type": "application/json" }).end("{}")
    })
  })
  await new Promise<void>((resolve) => server.listen(0, host, resolve))
  return {
    endpoint: `http://${host}:${(server.address() as AddressInfo).port}`,
    received: () => ({ requests, bytes }),
    close: () => new Promise<void>((resolve) => server.close(() => resolve()))
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Go's names of gRPC codes (etcd's metrics) as grpc-js spells them. */
const grpcCodeName = (go: string) => (go === "Canceled" ? "CANCELLED" : go === "OK" ? "OK" : go.replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase())

/**
 * (E) etcd 3.4 (Debian's etcd-server), `hosts.length` members with their data
 * on tmpfs (/dev/shm), started fresh and waited for until every member says
 * it is healthy. gRPC and its JSON gateway share each member's client port.
 */
export const startEtcd = async (hosts: ReadonlyArray<string>) => {
  const dataRoot = mkdtempSync("/dev/shm/bench-etcd-")
  const members: Array<{ name: string; client: string; peer: string }> = []
  for (const [i, host] of hosts.entries()) {
    const client = await freePort(host)
    let peer = await freePort(host)
    while (peer === client) peer = await freePort(host)
    members.push({ name: `etcd${i + 1}`, client: `${host}:${client}`, peer: `http://${host}:${peer}` })
  }
  const initialCluster = members.map((m) => `${m.name}=${m.peer}`).join(",")
  const children: Array<ChildProcess> = []
  const stop = async () => {
    await Promise.all(children.map((child) =>
      child.exitCode !== null || child.signalCode !== null
        ? Promise.resolve()
        : new Promise<void>((resolve) => {
          child.once("exit", () => resolve())
          child.kill("SIGKILL")
        })
    ))
    rmSync(dataRoot, { recursive: true, force: true })
  }
  let failure: Error | undefined
  for (const m of members) {
    const child = spawn("etcd", [
      `--name=${m.name}`,
      `--data-dir=${dataRoot}/${m.name}`,
      `--listen-client-urls=http://${m.client}`,
      `--advertise-client-urls=http://${m.client}`,
      `--listen-peer-urls=${m.peer}`,
      `--initial-advertise-peer-urls=${m.peer}`,
      `--initial-cluster=${initialCluster}`,
      "--initial-cluster-state=new",
      "--initial-cluster-token=bench-etcd",
      "--logger=zap",
      "--log-outputs=stderr",
      "--log-level=error"
    ], { stdio: ["ignore", "ignore", "pipe"] })
    let stderr = ""
    child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (stderr = (stderr + chunk).slice(-4000)))
    child.once("error", (error) => (failure ??= error))
    child.once("exit", (code, signal) => (failure ??= new Error(`${m.name} exited with ${code ?? signal}:\n${stderr}`)))
    children.push(child)
  }
  const healthy = async (client: string) => {
    try {
      const answer = await fetch(`http://${client}/health`, { signal: AbortSignal.timeout(2000) })
      return ((await answer.json()) as { health?: string }).health === "true"
    } catch {
      return false
    }
  }
  const deadline = Date.now() + 40_000
  for (;;) {
    if (failure !== undefined || Date.now() > deadline) {
      await stop()
      throw failure ?? new Error("etcd cluster not healthy after 40 s")
    }
    if ((await Promise.all(members.map((m) => healthy(m.client)))).every(Boolean)) break
    await sleep(200)
  }
  const addresses = members.map((m) => m.client)
  return {
    addresses,
    processes: children.map((child, i) => ({ label: `etcd ${i + 1}`, pid: child.pid! })),
    admins: [],
    // etcd 3.4 ends a call whose client went away with the context's error, which it does not map: UNKNOWN.
    cutOffCode: "UNKNOWN",
    /** gRPC calls of etcdserverpb.KV the members counted (grpc_server_handled_total), by "Method CODE". */
    codes: async () => {
      const counts = new Map<string, number>()
      for (const address of addresses) {
        const text = await (await fetch(`http://${address}/metrics`)).text()
        for (const [, labels, value] of text.matchAll(/^grpc_server_handled_total\{([^}]*)\} (\S+)$/gm)) {
          const label = (name: string) => new RegExp(`${name}="([^"]*)"`).exec(labels!)?.[1] ?? ""
          if (label("grpc_service") !== "etcdserverpb.KV") continue
          const id = `${label("grpc_method")} ${grpcCodeName(label("grpc_code"))}`
          counts.set(id, (counts.get(id) ?? 0) + Number(value))
        }
      }
      return counts
    },
    /** The client address of the member that leads the raft group now. */
    leader: async () => {
      for (const address of addresses) {
        const answer = await fetch(`http://${address}/v3/maintenance/status`, { method: "POST", body: "{}" })
        const status = (await answer.json()) as { header?: { member_id?: string }; leader?: string }
        if (status.leader !== undefined && status.header?.member_id === status.leader) return address
      }
      throw new Error("no etcd member says it leads")
    },
    stop
  } satisfies SystemUnderTest & Record<string, unknown>
}

/** Writes every key once into etcd through its JSON gateway (`POST /v3/kv/put`, key and value base64). */
export const populateEtcd = async (addresses: ReadonlyArray<string>, keys: number, valueSize: number) => {
  const value = Buffer.from("v".repeat(valueSize)).toString("base64")
  const batch = 64
  for (let i = 0; i < keys; i += batch) {
    await Promise.all(Array.from({ length: Math.min(batch, keys - i) }, async (_, j) => {
      const answer = await fetch(`http://${addresses[(i + j) % addresses.length]}/v3/kv/put`, {
        method: "POST",
        body: JSON.stringify({ key: Buffer.from(keyName(i + j)).toString("base64"), value })
      })
      if (!answer.ok) throw new Error(`etcd put ${keyName(i + j)}: ${answer.status} ${await answer.text()}`)
    }))
  }
}
