/**
 * Certificates for tests, made with the same library function as
 * `pnpm cli certs`, written to a temporary directory; and gRPC clients that
 * speak TLS.
 */
import { ChannelCredentials } from "@grpc/grpc-js"
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { connect as tlsConnect, type PeerCertificate } from "node:tls"
import { type CertificateAuthority, createAuthority, issueCertificate, type Validity, validFor } from "../src/security/certificates.js"
import { connect } from "./clients.js"

const DAY_MS = 86_400_000

/** A day ago until a year from now. */
export const current = (): Validity => validFor(new Date(), 365)
/** Ended yesterday. */
export const expired = (): Validity => ({ notBefore: new Date(Date.now() - 30 * DAY_MS), notAfter: new Date(Date.now() - DAY_MS) })

/** A temporary directory of PEM files; `remove` when done. */
export const pemDir = (prefix: string) => {
  const dir = mkdtempSync(join(tmpdir(), `${prefix}-`))
  return {
    dir,
    path: (name: string) => join(dir, name),
    write: (name: string, text: string) => {
      writeFileSync(join(dir, name), text)
      return join(dir, name)
    },
    read: (name: string) => readFileSync(join(dir, name)),
    remove: () => rmSync(dir, { recursive: true, force: true })
  }
}

export type PemDir = ReturnType<typeof pemDir>

/** A CA, written as `<name>.pem`. */
export const authority = async (files: PemDir, name: string, validity: Validity = current()): Promise<CertificateAuthority> => {
  const ca = await createAuthority(`test ${name}`, validity)
  files.write(`${name}.pem`, ca.certPem)
  return ca
}

/** A certificate issued by `ca` for `host` (a node's, unless `use` says client), written as `<name>.pem` and `<name>-key.pem`. */
export const issue = async (
  files: PemDir,
  ca: CertificateAuthority,
  name: string,
  host: string,
  options: { readonly validity?: Validity; readonly use?: "node" | "client" } = {}
) => {
  const issued = await issueCertificate(ca, { commonName: host, names: [host], use: options.use ?? "node", ...(options.validity ?? current()) })
  return { cert: files.write(`${name}.pem`, issued.certPem), key: files.write(`${name}-key.pem`, issued.keyPem), serial: issued.serial }
}

/** The PEER_TLS_* settings of a node whose files are `ca.pem` and `<name>.pem`, `<name>-key.pem`. */
export const peerTlsEnv = (files: PemDir, name: string, ca = "ca") => ({
  PEER_TLS_CA_FILE: files.path(`${ca}.pem`),
  PEER_TLS_CERT_FILE: files.path(`${name}.pem`),
  PEER_TLS_KEY_FILE: files.path(`${name}-key.pem`)
})

/** Who a TLS client trusts (`ca`: `<ca>.pem`; none: the system's CAs) and what it presents (`identity`: `<identity>.pem` and its key). */
export interface TlsClientOptions {
  readonly ca?: string
  readonly identity?: string
}

export const tlsCredentials = (files: PemDir, options: TlsClientOptions = {}) =>
  ChannelCredentials.createSsl(
    options.ca === undefined ? null : files.read(`${options.ca}.pem`),
    options.identity === undefined ? null : files.read(`${options.identity}-key.pem`),
    options.identity === undefined ? null : files.read(`${options.identity}.pem`)
  )

/** gRPC clients of pb.CacheService (and health) over TLS. */
export const connectTls = (address: string, files: PemDir, options: TlsClientOptions = {}) =>
  connect(address, {}, tlsCredentials(files, options))

/** The certificate a TLS port serves to a new connection (not verified: this only looks). */
export const servedCertificate = (address: string): Promise<PeerCertificate> => {
  const colon = address.lastIndexOf(":")
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: address.slice(0, colon), port: Number(address.slice(colon + 1)), rejectUnauthorized: false, ALPNProtocols: ["h2"] }, () => {
      const certificate = socket.getPeerCertificate()
      socket.destroy()
      resolve(certificate)
    })
    socket.once("error", reject)
  })
}
