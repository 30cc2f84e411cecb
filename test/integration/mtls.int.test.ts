import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { createChannel, createClient } from "nice-grpc"
import { ReplicaServiceDefinition } from "../../src/generated/cluster/v1/cluster.js"
import { Consistency } from "../../src/generated/pb/cache.js"
import { statusOf } from "../../testkit/clients.js"
import { addressesOn, clusterReady, freePort, type NodeProcess, spawnNode } from "../../testkit/nodeProcess.js"
import { authority, connectTls, expired, issue, peerTlsEnv, pemDir, type PemDir, type TlsClientOptions, tlsCredentials } from "../../testkit/tls.js"

const STRANGER = "127.0.0.167"
const NOT_A_MEMBER = "UNAUTHENTICATED: internal service: the caller presented no valid client certificate issued by the cluster CA (PEER_TLS_CA_FILE)"

let files: PemDir
let addresses: Array<string>
const nodes: Array<NodeProcess> = []
const closers: Array<() => void> = []

beforeAll(async () => {
  files = pemDir("mtls-int")
  const ca = await authority(files, "ca")
  const other = await authority(files, "other-ca")
  addresses = await addressesOn([164, 165, 166])
  await Promise.all(addresses.map((address, i) => issue(files, ca, `n${i}`, address.split(":")[0]!)))
  await issue(files, other, "stranger", STRANGER)
  await issue(files, ca, "old", "127.0.0.168", { validity: expired() })
  // The stranger trusts the cluster's CA (so its calls get as far as the check), but its own certificate is another CA's.
  files.write("bundle.pem", other.certPem + ca.certPem)
  nodes.push(...addresses.map((address, i) =>
    spawnNode({ ADDR: address, PEERS: addresses.filter((a) => a !== address).join(","), ...peerTlsEnv(files, `n${i}`) })
  ))
  await clusterReady(nodes, 3)
})
afterAll(async () => {
  closers.forEach((close) => close())
  await Promise.all(nodes.map((n) => n.stop("SIGKILL")))
  files?.remove()
})

const replicaClient = (address: string, options: TlsClientOptions) => {
  const channel = createChannel(address, tlsCredentials(files, options))
  closers.push(() => channel.close())
  return createClient(ReplicaServiceDefinition, channel)
}

describe("mutual TLS between nodes (PEER_TLS_*)", () => {
  it("forms a cluster of three that replicates: a write through one node reads back through the others", async () => {
    for (const node of nodes) expect(node.logs().find((l) => l["msg"] === "listening")?.["tls"]).toBe("mutual")
    const clients = addresses.map((address) => connectTls(address, files, { ca: "ca" }))
    closers.push(...clients.map((c) => c.close))
    await clients[0]!.cache.set({ key: "foo", value: "bar" })
    for (const client of clients) expect((await client.cache.get({ key: "foo" })).value).toBe("bar")
    // Every replica holds it: ONE reads this node's own copy.
    for (const client of clients) expect((await client.cache.get({ key: "foo", consistency: Consistency.ONE })).value).toBe("bar")
  })

  it("answers internal calls only with a valid client certificate of the cluster CA: none, another CA's or an expired one get UNAUTHENTICATED", async () => {
    const target = addresses[0]!
    expect(await statusOf(replicaClient(target, { ca: "ca" }).batch({ ops: [] }))).toBe(NOT_A_MEMBER)
    expect(await statusOf(replicaClient(target, { ca: "ca", identity: "stranger" }).batch({ ops: [] }))).toBe(NOT_A_MEMBER)
    expect(await statusOf(replicaClient(target, { ca: "ca", identity: "old" }).batch({ ops: [] }))).toBe(NOT_A_MEMBER)
    expect((await replicaClient(target, { ca: "ca", identity: "n1" }).batch({ ops: [] })).results).toEqual([])
    // Client calls need no certificate.
    const client = connectTls(target, files, { ca: "ca", identity: "stranger" })
    closers.push(client.close)
    expect((await client.cache.get({ key: "foo" })).value).toBe("bar")
  })

  it("keeps a node with a certificate of another CA out of the cluster", async () => {
    const port = await freePort(STRANGER)
    const stranger = spawnNode({
      ADDR: `${STRANGER}:${port}`,
      PEERS: addresses[0]!,
      PEER_TLS_CA_FILE: files.path("bundle.pem"),
      PEER_TLS_CERT_FILE: files.path("stranger.pem"),
      PEER_TLS_KEY_FILE: files.path("stranger-key.pem")
    })
    try {
      const refused = await stranger.waitForLog((l) => l["msg"] === "a peer refused this node's ring-agreement calls")
      expect(String(refused["reason"])).toBe(NOT_A_MEMBER)
      expect(stranger.logs().some((l) => l["msg"] === "ring changed")).toBe(false)
      for (const node of nodes) {
        expect(node.logs().some((l) => l["msg"] === "ring changed" && String(l["members"]).includes(STRANGER))).toBe(false)
      }
    } finally {
      await stranger.stop("SIGKILL")
    }
  })
})
