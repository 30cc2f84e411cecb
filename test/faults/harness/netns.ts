import { execFileSync } from "node:child_process"

/**
 * Test hosts in network namespaces: every node and the client get their own
 * namespace with one veth into a bridge that itself lives in a separate
 * namespace, so nothing here can route to a real network. Names carry a
 * per-run prefix; `destroy` removes every namespace with that prefix (which
 * also removes their veths and the bridge), even after a crash.
 */

/** The test subnet: only ever exists inside this run's namespaces. */
export const SUBNET = "10.213.0"

export interface Host {
  readonly ns: string
  readonly ip: string
}

export interface Topology {
  readonly prefix: string
  readonly bridge: string
  readonly nodes: ReadonlyArray<Host>
  readonly client: Host
}

const run = (command: string, args: ReadonlyArray<string>): string =>
  execFileSync(command, args, { stdio: ["ignore", "pipe", "pipe"] }).toString()

/** Runs a command inside a namespace. */
export const inNs = (ns: string, command: string, args: ReadonlyArray<string>): string =>
  run("ip", ["netns", "exec", ns, command, ...args])

const namespaces = (): Array<string> =>
  run("ip", ["netns", "list"]).split("\n").map((line) => line.split(" ")[0] ?? "").filter((n) => n !== "")

/** Removes every namespace whose name starts with `prefix`. */
export const destroy = (prefix: string): void => {
  for (const ns of namespaces()) if (ns.startsWith(prefix)) run("ip", ["netns", "del", ns])
}

/** Whether this machine lets us make namespaces (root with iproute2). */
export const canCreateNamespaces = (): boolean => {
  try {
    run("ip", ["netns", "add", "qc-probe"])
    run("ip", ["netns", "del", "qc-probe"])
    return true
  } catch {
    return false
  }
}

const addHost = (prefix: string, bridge: string, name: string, index: number): Host => {
  const ns = `${prefix}-${name}`
  const outside = `${prefix}${name}a` // bridge side
  const inside = `${prefix}${name}b`
  const ip = `${SUBNET}.${index}`
  run("ip", ["netns", "add", ns])
  run("ip", ["link", "add", outside, "type", "veth", "peer", "name", inside])
  run("ip", ["link", "set", outside, "netns", bridge])
  run("ip", ["link", "set", inside, "netns", ns])
  inNs(bridge, "ip", ["link", "set", outside, "master", "br0", "up"])
  inNs(ns, "ip", ["link", "set", "lo", "up"])
  inNs(ns, "ip", ["link", "set", inside, "name", "eth0"])
  inNs(ns, "ip", ["addr", "add", `${ip}/24`, "dev", "eth0"])
  inNs(ns, "ip", ["link", "set", "eth0", "up"])
  return { ns, ip }
}

/** Creates the bridge, `nodeCount` node hosts (.1, .2, ...) and a client host (.100). */
export const create = (prefix: string, nodeCount: number): Topology => {
  destroy(prefix)
  const bridge = `${prefix}-br`
  try {
    run("ip", ["netns", "add", bridge])
    inNs(bridge, "ip", ["link", "add", "br0", "type", "bridge"])
    inNs(bridge, "ip", ["link", "set", "br0", "up"])
    const nodes = Array.from({ length: nodeCount }, (_, i) => addHost(prefix, bridge, `n${i + 1}`, i + 1))
    const client = addHost(prefix, bridge, "cl", 100)
    return { prefix, bridge, nodes, client }
  } catch (error) {
    destroy(prefix)
    throw error
  }
}

/** Drops all traffic between `host` and each of `others` (both directions, at `host`). */
export const block = (host: Host, others: ReadonlyArray<Host>): void => {
  for (const other of others) {
    inNs(host.ns, "iptables", ["-A", "INPUT", "-s", other.ip, "-j", "DROP"])
    inNs(host.ns, "iptables", ["-A", "OUTPUT", "-d", other.ip, "-j", "DROP"])
  }
}

/** Removes every rule `block` added at `host`. */
export const unblock = (host: Host): void => {
  inNs(host.ns, "iptables", ["-F", "INPUT"])
  inNs(host.ns, "iptables", ["-F", "OUTPUT"])
}
