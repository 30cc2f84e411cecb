/**
 * What the TLS files hold, checked before a byte of it is used: at start-up
 * (a failure stops the node, naming the variable) and at every reload (a
 * failure keeps the certificates in use). Pure: the texts and the time come
 * in, the checked material or one message goes out.
 */
import { createPrivateKey, type KeyObject, X509Certificate } from "node:crypto"
import { isIP } from "node:net"

/** A file's contents, with the variable that named it, for messages. */
export interface FileText {
  readonly variable: string
  readonly path: string
  readonly text: string
}

/** A certificate (chain) and its private key. */
export interface Identity {
  readonly cert: Buffer
  readonly key: Buffer
  /** The first certificate of the chain: the one the key belongs to. */
  readonly leaf: X509Certificate
}

/** Everything the gRPC port and the peer channels need, checked. */
export interface TlsMaterial {
  /** What the gRPC port presents: TLS_CERT_FILE, else the node certificate. */
  readonly served: Identity
  /** CA certificates a client certificate is verified against; undefined = none is asked for. */
  readonly clientTrust: Buffer | undefined
  /** A client without a certificate that `clientTrust` verifies is refused at the handshake (TLS_CLIENT_CA_FILE). */
  readonly requireClientCertificate: boolean
  /** Mutual TLS between nodes: this node's certificate and the cluster CA. */
  readonly peer: { readonly identity: Identity; readonly caPem: Buffer; readonly cas: ReadonlyArray<X509Certificate> } | undefined
}

/** The TLS files as read. */
export interface TlsFileTexts {
  readonly tls?: { readonly cert: FileText; readonly key: FileText } | undefined
  readonly clientCa?: FileText | undefined
  readonly peer?: { readonly ca: FileText; readonly cert: FileText; readonly key: FileText } | undefined
}

/** What is wrong, and with which variable's file. */
export interface MaterialError {
  readonly variable: string
  readonly message: string
}

type Checked<A> = { readonly ok: true; readonly value: A } | { readonly ok: false; readonly error: MaterialError }

const ok = <A>(value: A): Checked<A> => ({ ok: true, value })
const wrong = (file: FileText, message: string): Checked<never> => ({ ok: false, error: { variable: file.variable, message: `${file.path}: ${message}` } })
const reason = (error: unknown) => (error instanceof Error ? error.message : String(error))

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g

/** Every certificate in a PEM file, in order; at least one. */
const certificatesIn = (file: FileText): Checked<ReadonlyArray<X509Certificate>> => {
  const blocks = file.text.match(PEM_CERTIFICATE) ?? []
  if (blocks.length === 0) return wrong(file, "holds no PEM certificate (-----BEGIN CERTIFICATE-----)")
  const certificates: Array<X509Certificate> = []
  for (const [i, block] of blocks.entries()) {
    try {
      certificates.push(new X509Certificate(block))
    } catch (error) {
      return wrong(file, `certificate ${i + 1} is not a valid X.509 certificate: ${reason(error)}`)
    }
  }
  return ok(certificates)
}

const privateKeyIn = (file: FileText): Checked<KeyObject> => {
  try {
    return ok(createPrivateKey(file.text))
  } catch (error) {
    return wrong(file, `holds no usable PEM private key: ${reason(error)}`)
  }
}

/** Why a certificate is not valid at `nowMs`, or undefined when it is. */
export const validityProblem = (certificate: X509Certificate, nowMs: number): string | undefined => {
  const from = Date.parse(certificate.validFrom)
  const to = Date.parse(certificate.validTo)
  if (nowMs < from) return `is not valid before ${new Date(from).toISOString()}`
  if (nowMs > to) return `expired at ${new Date(to).toISOString()}`
  return undefined
}

/** The CA among `cas` that issued and signed `certificate`, if any. */
export const issuerAmong = (certificate: X509Certificate, cas: ReadonlyArray<X509Certificate>): X509Certificate | undefined =>
  cas.find((ca) => certificate.checkIssued(ca) && certificate.verify(ca.publicKey))

/** Whether a peer dialling `host` accepts `certificate` (a DNS name or an IP address among its names). */
export const coversHost = (certificate: X509Certificate, host: string): boolean =>
  isIP(host) === 0 ? certificate.checkHost(host) !== undefined : certificate.checkIP(host) !== undefined

const identityOf = (cert: FileText, key: FileText, nowMs: number): Checked<Identity> => {
  const chain = certificatesIn(cert)
  if (!chain.ok) return chain
  const privateKey = privateKeyIn(key)
  if (!privateKey.ok) return privateKey
  const leaf = chain.value[0]!
  if (!leaf.checkPrivateKey(privateKey.value)) return wrong(key, `is not the private key of the certificate in ${cert.variable}`)
  const problem = validityProblem(leaf, nowMs)
  if (problem !== undefined) return wrong(cert, `the certificate (${leaf.subject.replace(/\n/g, ", ")}) ${problem}`)
  return ok({ cert: Buffer.from(cert.text), key: Buffer.from(key.text), leaf })
}

const authoritiesIn = (file: FileText, nowMs: number): Checked<ReadonlyArray<X509Certificate>> => {
  const cas = certificatesIn(file)
  if (!cas.ok) return cas
  for (const [i, ca] of cas.value.entries()) {
    if (!ca.ca) return wrong(file, `certificate ${i + 1} (${ca.subject.replace(/\n/g, ", ")}) is not a CA certificate`)
    const problem = validityProblem(ca, nowMs)
    if (problem !== undefined) return wrong(file, `CA certificate ${i + 1} ${problem}`)
  }
  return cas
}

/**
 * Checks the files and puts together what the port and the peer channels
 * use. `advertisedHost` is the host in ADDR, which peers dial and check the
 * served certificate against.
 */
export const tlsMaterial = (files: TlsFileTexts, nowMs: number, advertisedHost: string): Checked<TlsMaterial> => {
  let peer: TlsMaterial["peer"]
  if (files.peer !== undefined) {
    const cas = authoritiesIn(files.peer.ca, nowMs)
    if (!cas.ok) return cas
    const identity = identityOf(files.peer.cert, files.peer.key, nowMs)
    if (!identity.ok) return identity
    if (issuerAmong(identity.value.leaf, cas.value) === undefined) {
      return wrong(files.peer.cert, `the certificate is not issued by the CA in ${files.peer.ca.variable} (its issuer: ${identity.value.leaf.issuer.replace(/\n/g, ", ")})`)
    }
    peer = { identity: identity.value, caPem: Buffer.from(files.peer.ca.text), cas: cas.value }
  }
  let served: Identity
  if (files.tls !== undefined) {
    const identity = identityOf(files.tls.cert, files.tls.key, nowMs)
    if (!identity.ok) return identity
    served = identity.value
    if (peer !== undefined && issuerAmong(served.leaf, peer.cas) === undefined) {
      return wrong(files.tls.cert, `peers check the port's certificate against the cluster CA (${files.peer!.ca.variable}), which did not issue this one`)
    }
  } else if (peer !== undefined) {
    served = peer.identity
  } else {
    return { ok: false, error: { variable: "TLS_CERT_FILE", message: "no certificate for the gRPC port" } }
  }
  if (peer !== undefined && !coversHost(served.leaf, advertisedHost)) {
    const file = files.tls?.cert ?? files.peer!.cert
    return wrong(file, `the certificate is not valid for ${advertisedHost}, the host in ADDR that peers dial (it names ${served.leaf.subjectAltName ?? "nothing"})`)
  }
  let clientTrust: Buffer | undefined
  if (files.clientCa !== undefined) {
    const cas = authoritiesIn(files.clientCa, nowMs)
    if (!cas.ok) return cas
    // Peers present node certificates of the cluster CA: trusted at the handshake too.
    clientTrust = Buffer.from(peer === undefined ? files.clientCa.text : `${files.clientCa.text}\n${files.peer!.ca.text}`)
  } else if (peer !== undefined) {
    clientTrust = peer.caPem
  }
  return ok({ served, clientTrust, requireClientCertificate: files.clientCa !== undefined, peer })
}
