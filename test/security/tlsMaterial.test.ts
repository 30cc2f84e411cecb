import { beforeAll, describe, expect, it } from "vitest"
import { X509Certificate } from "node:crypto"
import { type CertificateAuthority, createAuthority, issueCertificate, loadAuthority, validFor } from "../../src/security/certificates.js"
import { type FileText, issuerAmong, tlsMaterial } from "../../src/security/tlsMaterial.js"
import { current, expired } from "../../testkit/tls.js"

const file = (variable: string, text: string): FileText => ({ variable, path: `/etc/${variable.toLowerCase()}.pem`, text })

let cluster: CertificateAuthority
let other: CertificateAuthority
let node: { certPem: string; keyPem: string }
let stranger: { certPem: string; keyPem: string }
let old: { certPem: string; keyPem: string }
beforeAll(async () => {
  cluster = await createAuthority("cluster", current())
  other = await createAuthority("other", current())
  node = await issueCertificate(cluster, { commonName: "cache1", names: ["cache1", "10.0.0.1"], use: "node", ...current() })
  stranger = await issueCertificate(other, { commonName: "cache1", names: ["cache1"], use: "node", ...current() })
  old = await issueCertificate(cluster, { commonName: "cache1", names: ["cache1"], use: "node", ...expired() })
})

const peerFiles = (cert = node.certPem, key = node.keyPem, ca = cluster.certPem) => ({
  peer: { ca: file("PEER_TLS_CA_FILE", ca), cert: file("PEER_TLS_CERT_FILE", cert), key: file("PEER_TLS_KEY_FILE", key) }
})

const errorOf = (result: ReturnType<typeof tlsMaterial>) => (result.ok ? "no error" : `${result.error.variable}: ${result.error.message}`)

describe("certificates", () => {
  it("issues node certificates for server and client use with DNS and IP names, signed by the CA", () => {
    const leaf = new X509Certificate(node.certPem)
    expect(leaf.subjectAltName).toBe("DNS:cache1, IP Address:10.0.0.1")
    expect(leaf.checkHost("cache1")).toBe("cache1")
    expect(leaf.checkIP("10.0.0.1")).toBe("10.0.0.1")
    expect(leaf.keyUsage).toEqual(["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"])
    expect(leaf.ca).toBe(false)
    expect(issuerAmong(leaf, [new X509Certificate(other.certPem), new X509Certificate(cluster.certPem)])?.subject).toBe("CN=cluster")
    expect(issuerAmong(new X509Certificate(stranger.certPem), [new X509Certificate(cluster.certPem)])).toBeUndefined()
  })

  it("issues more certificates from a CA read back from its files", async () => {
    const again = await loadAuthority(cluster.certPem, cluster.keyPem)
    const issued = await issueCertificate(again, { commonName: "tool", names: [], use: "client", ...validFor(new Date(), 1) })
    const leaf = new X509Certificate(issued.certPem)
    expect(leaf.verify(new X509Certificate(cluster.certPem).publicKey)).toBe(true)
    expect(leaf.keyUsage).toEqual(["1.3.6.1.5.5.7.3.2"])
    expect(leaf.serialNumber).toBe(issued.serial)
  })
})

describe("tlsMaterial", () => {
  it("serves the node certificate with mutual TLS, asking clients for certificates of the cluster CA", () => {
    const result = tlsMaterial(peerFiles(), Date.now(), "cache1")
    if (!result.ok) expect.fail(errorOf(result))
    expect(result.value.served.leaf.subject).toBe("CN=cache1")
    expect(result.value.clientTrust?.toString()).toBe(cluster.certPem)
    expect(result.value.requireClientCertificate).toBe(false)
    expect(result.value.peer?.cas).toHaveLength(1)
  })

  it("requires client certificates with TLS_CLIENT_CA_FILE, trusting the cluster CA too at the handshake", () => {
    const result = tlsMaterial({ ...peerFiles(), clientCa: file("TLS_CLIENT_CA_FILE", other.certPem) }, Date.now(), "10.0.0.1")
    if (!result.ok) expect.fail(errorOf(result))
    expect(result.value.requireClientCertificate).toBe(true)
    expect(result.value.clientTrust?.toString()).toContain(other.certPem.trim())
    expect(result.value.clientTrust?.toString()).toContain(cluster.certPem.trim())
  })

  it("serves TLS_CERT_FILE for clients alone, with no client certificate asked for", () => {
    const result = tlsMaterial({ tls: { cert: file("TLS_CERT_FILE", stranger.certPem), key: file("TLS_KEY_FILE", stranger.keyPem) } }, Date.now(), "anything")
    if (!result.ok) expect.fail(errorOf(result))
    expect(result.value.clientTrust).toBeUndefined()
    expect(result.value.peer).toBeUndefined()
  })

  const bad: ReadonlyArray<readonly [string, () => Parameters<typeof tlsMaterial>[0], string, string?]> = [
    ["no PEM at all", () => peerFiles("hello"), "PEER_TLS_CERT_FILE: /etc/peer_tls_cert_file.pem: holds no PEM certificate"],
    ["a damaged certificate", () => peerFiles(node.certPem.replace(/[A-Za-z]{20}\n/, "AAAAAAAAAAAAAAAAAAAA\n")), "PEER_TLS_CERT_FILE: /etc/peer_tls_cert_file.pem: certificate 1 is not a valid X.509 certificate"],
    ["a key that is no key", () => peerFiles(node.certPem, "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), "PEER_TLS_KEY_FILE: /etc/peer_tls_key_file.pem: holds no usable PEM private key"],
    ["another certificate's key", () => peerFiles(node.certPem, stranger.keyPem), "PEER_TLS_KEY_FILE: /etc/peer_tls_key_file.pem: is not the private key of the certificate in PEER_TLS_CERT_FILE"],
    ["an expired certificate", () => peerFiles(old.certPem, old.keyPem), "PEER_TLS_CERT_FILE: /etc/peer_tls_cert_file.pem: the certificate (CN=cache1) expired at"],
    ["a certificate of another CA", () => peerFiles(stranger.certPem, stranger.keyPem), "PEER_TLS_CERT_FILE: /etc/peer_tls_cert_file.pem: the certificate is not issued by the CA in PEER_TLS_CA_FILE (its issuer: CN=other)"],
    ["a CA file holding a node certificate", () => peerFiles(node.certPem, node.keyPem, node.certPem), "PEER_TLS_CA_FILE: /etc/peer_tls_ca_file.pem: certificate 1 (CN=cache1) is not a CA certificate"],
    ["a name peers do not dial", () => peerFiles(), "PEER_TLS_CERT_FILE: /etc/peer_tls_cert_file.pem: the certificate is not valid for cache2, the host in ADDR that peers dial (it names DNS:cache1, IP Address:10.0.0.1)", "cache2"],
    ["a client certificate of another CA beside mutual TLS", () => ({ ...peerFiles(), tls: { cert: file("TLS_CERT_FILE", stranger.certPem), key: file("TLS_KEY_FILE", stranger.keyPem) } }), "TLS_CERT_FILE: /etc/tls_cert_file.pem: peers check the port's certificate against the cluster CA (PEER_TLS_CA_FILE), which did not issue this one"]
  ]
  for (const [what, files, message, host] of bad) {
    it(`refuses ${what}, naming the variable`, () => {
      expect(errorOf(tlsMaterial(files(), Date.now(), host ?? "cache1"))).toContain(message)
    })
  }
})
