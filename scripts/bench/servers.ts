/**
 * The systems under test, as real processes on 127.0.0.x: the bare server
 * (L) and cache nodes started exactly as `pnpm start` starts them.
 */
import type { ChannelCredentials } from "@grpc/grpc-js"
import { spawn } from "node:child_process"
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
  readonly stop: () => Promise<void>
}

/** Settings every benchmarked node runs with: no rate limit, room for every key. */
const NODE_ENV = { RATE_LIMIT: "0", CAPACITY: "1000000", MAX_MEMORY: "2GiB", TTL: "0" }

export const startBare = async (host: string): Promise<SystemUnderTest> => {
  const address = `${host}:${await freePort(host)}`
  const child = spawn(process.execPath, ["--import", "tsx", fileURLToPath(new URL("./bareServer.ts", import.meta.url)), address], {
    stdio: ["ignore", "pipe", "inherit"]
  })
  await new Promise<void>((resolve, reject) => {
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => chunk.includes("\"ready\"") && resolve())
    child.once("exit", (code) => reject(new Error(`bare server exited with ${code}`)))
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
