import { describe, expect, it } from "vitest"
import { execFile } from "node:child_process"
import { X509Certificate, createPrivateKey } from "node:crypto"
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { repoRoot } from "../../testkit/nodeProcess.js"

const cli = (args: ReadonlyArray<string>) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile(process.execPath, ["--import", "tsx", join(repoRoot, "src/cli/main.ts"), ...args], { cwd: repoRoot, timeout: 60_000 }, (error, stdout, stderr) =>
      resolve({ code: error === null ? 0 : typeof error.code === "number" ? error.code : -1, stdout, stderr }))
  })

describe("pnpm cli certs", () => {
  it("makes a cluster CA, node certificates naming each node, a client CA and a client certificate; run again, it keeps the CAs", async () => {
    const dir = mkdtempSync(join(tmpdir(), "certs-cli-"))
    try {
      const first = await cli(["certs", "--out", dir, "--nodes", "cache1,10.1.2.3", "--days", "2", "--loopback"])
      expect(first.stderr).toBe("")
      expect(first.code).toBe(0)
      const cert = (name: string) => new X509Certificate(readFileSync(join(dir, `${name}.pem`)))
      const ca = cert("ca")
      const clientCa = cert("client-ca")
      expect(ca.ca && clientCa.ca).toBe(true)
      for (const [name, san] of [["cache1", "DNS:cache1"], ["10.1.2.3", "IP Address:10.1.2.3"]] as const) {
        const node = cert(name)
        expect(node.subjectAltName).toBe(`${san}, DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1`)
        expect(node.checkIssued(ca) && node.verify(ca.publicKey)).toBe(true)
        expect(node.keyUsage).toEqual(["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"])
        expect(node.checkPrivateKey(createPrivateKey(readFileSync(join(dir, `${name}-key.pem`))))).toBe(true)
        expect(Date.parse(node.validTo) - Date.now()).toBeLessThan(2 * 86_400_000 + 1)
        expect(statSync(join(dir, `${name}-key.pem`)).mode & 0o077).toBe(0)
      }
      const client = cert("client")
      expect(client.verify(clientCa.publicKey)).toBe(true)
      expect(client.verify(ca.publicKey)).toBe(false)
      expect(client.keyUsage).toEqual(["1.3.6.1.5.5.7.3.2"])

      const second = await cli(["certs", "--out", dir, "--nodes", "cache2"])
      expect(second.code).toBe(0)
      expect(second.stdout).toContain("cluster CA (kept)")
      expect(cert("ca").fingerprint256).toBe(ca.fingerprint256)
      expect(cert("cache2").verify(ca.publicKey)).toBe(true)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it("refuses an empty node list", async () => {
    const dir = mkdtempSync(join(tmpdir(), "certs-cli-"))
    try {
      const run = await cli(["certs", "--out", dir, "--nodes", " , "])
      expect(run.code).not.toBe(0)
      expect(run.stderr).toContain("--nodes names no node")
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
