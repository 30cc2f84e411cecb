/**
 * Making a small private PKI for a cluster: a CA, node certificates that
 * serve as both server and client certificates, and client certificates for
 * tools. `pnpm cli certs` uses it, and tests use it for certificates that
 * are expired or come from another CA. ECDSA P-256 keys through WebCrypto;
 * the X.509 encoding is @peculiar/x509's (no ASN.1 written here).
 */
import "reflect-metadata"
import * as x509 from "@peculiar/x509"
import { createPrivateKey, randomBytes, webcrypto } from "node:crypto"
import { isIP } from "node:net"

type CryptoKey = webcrypto.CryptoKey
const crypto = webcrypto
x509.cryptoProvider.set(crypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0])

const EC_KEY = { name: "ECDSA", namedCurve: "P-256" } as const
const SIGNING = { name: "ECDSA", hash: "SHA-256" } as const

/** A CA that can issue certificates: its certificate and key, as PEM and as keys WebCrypto signs with. */
export interface CertificateAuthority {
  readonly certPem: string
  readonly keyPem: string
  readonly certificate: x509.X509Certificate
  readonly signingKey: CryptoKey
}

/** An issued certificate and its private key (PKCS#8), both PEM. */
export interface IssuedCertificate {
  readonly certPem: string
  readonly keyPem: string
  /** Hexadecimal serial number, as `openssl x509 -serial` and node:tls print it (upper case). */
  readonly serial: string
}

/** When a certificate is valid. */
export interface Validity {
  readonly notBefore: Date
  readonly notAfter: Date
}

/**
 * `node`: server and client authentication (a cluster member serves its port
 * and dials its peers with the same certificate); `client`: client
 * authentication only (tools).
 */
export type CertificateUse = "node" | "client"

/** A random positive 128-bit serial number in hex. */
const newSerial = (): string => {
  const bytes = randomBytes(16)
  bytes[0] = bytes[0]! & 0x7f
  return bytes.toString("hex").toUpperCase()
}

/** PEM text ends with a line break, so that files can be concatenated into bundles. */
const pemFile = (pem: string) => (pem.endsWith("\n") ? pem : `${pem}\n`)

const privateKeyPem = async (key: CryptoKey): Promise<string> =>
  pemFile(x509.PemConverter.encode(await crypto.subtle.exportKey("pkcs8", key), "PRIVATE KEY"))

/** Subject alternative names: an IP address as an IP entry, anything else as a DNS name. */
export const subjectAltNames = (names: ReadonlyArray<string>): Array<{ type: "ip" | "dns"; value: string }> =>
  [...new Set(names)].map((name) => (isIP(name) === 0 ? { type: "dns" as const, value: name } : { type: "ip" as const, value: name }))

/** A new self-signed CA certificate and key. */
export const createAuthority = async (commonName: string, validity: Validity): Promise<CertificateAuthority> => {
  const keys = await crypto.subtle.generateKey(EC_KEY, true, ["sign", "verify"])
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: newSerial(),
    name: `CN=${commonName}`,
    notBefore: validity.notBefore,
    notAfter: validity.notAfter,
    signingAlgorithm: SIGNING,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey)
    ]
  })
  return { certPem: pemFile(certificate.toString("pem")), keyPem: await privateKeyPem(keys.privateKey), certificate, signingKey: keys.privateKey }
}

/** A CA from its PEM certificate and key (as `pnpm cli certs` wrote them), to issue more certificates. */
export const loadAuthority = async (certPem: string, keyPem: string): Promise<CertificateAuthority> => {
  const certificate = new x509.X509Certificate(certPem)
  const key = createPrivateKey(keyPem)
  const curve = key.asymmetricKeyDetails?.namedCurve
  const algorithm = key.asymmetricKeyType === "ec" && (curve === "prime256v1" || curve === "P-256")
    ? EC_KEY
    : undefined
  if (algorithm === undefined) throw new Error("the CA key is not an ECDSA P-256 key (the kind this tool makes)")
  const der = key.export({ format: "der", type: "pkcs8" })
  const signingKey = await crypto.subtle.importKey("pkcs8", der, algorithm, false, ["sign"])
  return { certPem, keyPem, certificate, signingKey }
}

/**
 * Issues a certificate signed by `ca` with a new key. `names` become the
 * subject alternative names (IP addresses as IP entries, others as DNS
 * names), which is what peers and clients check the server's identity
 * against; the first is also the common name.
 */
export const issueCertificate = async (
  ca: CertificateAuthority,
  options: { readonly commonName: string; readonly names: ReadonlyArray<string>; readonly use: CertificateUse } & Validity
): Promise<IssuedCertificate> => {
  const keys = await crypto.subtle.generateKey(EC_KEY, true, ["sign", "verify"])
  const serial = newSerial()
  const usages = options.use === "node"
    ? [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]
    : [x509.ExtendedKeyUsage.clientAuth]
  const certificate = await x509.X509CertificateGenerator.create({
    serialNumber: serial,
    subject: `CN=${options.commonName}`,
    issuer: ca.certificate.subject,
    notBefore: options.notBefore,
    notAfter: options.notAfter,
    signingAlgorithm: SIGNING,
    publicKey: keys.publicKey,
    signingKey: ca.signingKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.ExtendedKeyUsageExtension(usages, false),
      ...(options.names.length === 0 ? [] : [new x509.SubjectAlternativeNameExtension(subjectAltNames(options.names), false)]),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(ca.certificate.publicKey)
    ]
  })
  return { certPem: pemFile(certificate.toString("pem")), keyPem: await privateKeyPem(keys.privateKey), serial }
}

/** `days` days from `from`. */
export const validFor = (from: Date, days: number): Validity => ({
  notBefore: new Date(from.getTime() - 60_000),
  notAfter: new Date(from.getTime() + days * 86_400_000)
})
