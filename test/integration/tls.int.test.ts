import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { renameSync } from "node:fs"
import { connect, statusOf } from "../../testkit/clients.js"
import { type NodeProcess, startNode } from "../../testkit/nodeProcess.js"
import { authority, connectTls, issue, pemDir, type PemDir, servedCertificate } from "../../testkit/tls.js"
import type { CertificateAuthority } from "../../src/security/certificates.js"

const SERVER = "127.0.0.161"
const STRICT = "127.0.0.162"

let files: PemDir
let ca: CertificateAuthority
let node: NodeProcess
let strict: NodeProcess
const clients: Array<{ close: () => void }> = []

beforeAll(async () => {
  files = pemDir("tls-int")
  ca = await authority(files, "ca")
  const tools = await authority(files, "client-ca")
  await issue(files, ca, "server", SERVER)
  await issue(files, ca, "strict", STRICT)
  await issue(files, tools, "client", "a tool", { use: "client" })
  const tlsEnv = (name: string) => ({ TLS_CERT_FILE: files.path(`${name}.pem`), TLS_KEY_FILE: files.path(`${name}-key.pem`) })
  ;[node, strict] = await Promise.all([
    startNode(SERVER, { ...tlsEnv("server"), TLS_RELOAD_INTERVAL: "200ms" }),
    startNode(STRICT, { ...tlsEnv("strict"), TLS_CLIENT_CA_FILE: files.path("client-ca.pem") })
  ])
})
afterAll(async () => {
  clients.forEach((c) => c.close())
  await Promise.all([node, strict].map((n) => n?.stop("SIGKILL")))
  files?.remove()
})

const open = <A extends { close: () => void }>(client: A): A => {
  clients.push(client)
  return client
}

describe("TLS for clients (TLS_CERT_FILE, TLS_KEY_FILE)", () => {
  it("serves a client that trusts the CA, and refuses one that does not", async () => {
    const trusting = open(connectTls(node.address, files, { ca: "ca" }))
    await trusting.cache.set({ key: "foo", value: "bar" })
    expect((await trusting.cache.get({ key: "foo" })).value).toBe("bar")
    const stranger = open(connectTls(node.address, files))
    expect(await statusOf(stranger.cache.get({ key: "foo" }))).toMatch(/^UNAVAILABLE: .*certificate/)
    expect(node.logs().find((l) => l["msg"] === "listening")?.["tls"]).toBe("on")
  })

  it("refuses a plain-text client with an error at once, not a call left waiting", async () => {
    const plain = open(connect(node.address))
    const started = Date.now()
    expect(await statusOf(plain.cache.get({ key: "foo" }, { signal: AbortSignal.timeout(15_000) }))).toMatch(/^UNAVAILABLE: /)
    expect(Date.now() - started).toBeLessThan(10_000)
  })

  it("with TLS_CLIENT_CA_FILE, refuses a client without a certificate of that CA and serves one with", async () => {
    const anonymous = open(connectTls(strict.address, files, { ca: "ca" }))
    expect(await statusOf(anonymous.cache.set({ key: "k", value: "v" }))).toMatch(/^UNAVAILABLE: /)
    const wrongCa = open(connectTls(strict.address, files, { ca: "ca", identity: "server" }))
    expect(await statusOf(wrongCa.cache.set({ key: "k", value: "v" }))).toMatch(/^UNAVAILABLE: /)
    const tool = open(connectTls(strict.address, files, { ca: "ca", identity: "client" }))
    await tool.cache.set({ key: "k", value: "v" })
    expect((await tool.cache.get({ key: "k" })).value).toBe("v")
  })

  it("serves a renewed certificate to new connections without a restart; open connections go on", async () => {
    const before = await servedCertificate(node.address)
    const open_ = open(connectTls(node.address, files, { ca: "ca" }))
    await open_.cache.set({ key: "r", value: "1" })
    // A broken file is logged and changes nothing.
    const good = files.read("server.pem").toString()
    files.write("server.pem", good.slice(0, 200))
    const broken = await node.waitForLog((l) => l["msg"] === "TLS files not reloaded; the certificates in use stay", 10_000)
    expect(broken["variable"]).toBe("TLS_CERT_FILE")
    expect((await servedCertificate(node.address)).serialNumber).toBe(before.serialNumber)
    files.write("server.pem", good)
    // Renewed as a tool would: new files beside the old, then renamed over them (the key first).
    const renewed = await issue(files, ca, "server-next", SERVER)
    renameSync(files.path("server-next-key.pem"), files.path("server-key.pem"))
    renameSync(files.path("server-next.pem"), files.path("server.pem"))
    await node.waitForLog((l) => l["msg"] === "TLS certificates reloaded", 10_000)
    const after = await servedCertificate(node.address)
    expect(after.serialNumber).toBe(renewed.serial)
    expect(after.serialNumber).not.toBe(before.serialNumber)
    expect((await open_.cache.get({ key: "r" })).value).toBe("1")
    const fresh = open(connectTls(node.address, files, { ca: "ca" }))
    expect((await fresh.cache.get({ key: "r" })).value).toBe("1")
  })
})
