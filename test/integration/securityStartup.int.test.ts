import { describe, expect, it } from "vitest"
import { freePort, spawnNode } from "../../testkit/nodeProcess.js"
import { authority, expired, issue, peerTlsEnv, pemDir } from "../../testkit/tls.js"

const HOST = "127.0.0.163"

describe("start-up refusals on security settings", () => {
  it("stops with one line naming the variable: a file it cannot read, an expired certificate, a listener beyond loopback without peer authentication; INSECURE_CLUSTER=true starts with a warning", async () => {
    const dir = pemDir("tls-startup")
    const port = await freePort("127.0.0.1")
    try {
      const cluster = await authority(dir, "ca")
      await issue(dir, cluster, "old", HOST, { validity: expired() })
      const exposed = { ADDR: `${HOST}:${port}`, LISTEN_ADDR: `0.0.0.0:${port}`, ADMIN_ADDR: "127.0.0.1:0" }
      const [unreadable, stale, open, insecure] = [
        spawnNode({ ADDR: `${HOST}:${port}`, TLS_CERT_FILE: dir.path("missing.pem"), TLS_KEY_FILE: dir.path("old-key.pem") }),
        spawnNode({ ADDR: `${HOST}:${port}`, ...peerTlsEnv(dir, "old") }),
        spawnNode(exposed),
        spawnNode({ ...exposed, INSECURE_CLUSTER: "true" })
      ]
      try {
        const warning = await insecure.waitForLog((l) => String(l["msg"]).startsWith("INSECURE_CLUSTER=true"))
        expect(warning["level"]).toMatch(/^warn/)
        expect(String(warning["msg"])).toContain("answer anyone who reaches the gRPC port")
        await insecure.waitForLog((l) => l["msg"] === "ready")
      } finally {
        expect(await insecure.stop()).toEqual({ code: 0, signal: null })
      }
      for (const refused of [unreadable, stale, open]) expect((await refused.exited).code).toBe(1)
      expect(unreadable.stderr().trim()).toMatch(/^invalid configuration: TLS_CERT_FILE: cannot read .*missing\.pem: ENOENT/)
      expect(stale.stderr().trim()).toMatch(/^invalid configuration: PEER_TLS_CERT_FILE: .*old\.pem: the certificate \(CN=127\.0\.0\.163\) expired at /)
      const line = open.stderr().trim()
      expect(line).toMatch(/^invalid configuration: CLUSTER_SECRET: the gRPC listener 0\.0\.0\.0:\d+ \(LISTEN_ADDR, else ADDR\) is not on loopback/)
      expect(line).toContain("PEER_TLS_CA_FILE")
      expect(line).toContain("INSECURE_CLUSTER=true")
    } finally {
      dir.remove()
    }
  })
})
