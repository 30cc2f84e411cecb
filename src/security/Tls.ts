import { type ChannelCredentials, credentials, experimental, type ServerCredentials } from "@grpc/grpc-js"
import { ConfigError, Effect, Option } from "effect"
import { X509Certificate } from "node:crypto"
import { readFile } from "node:fs/promises"
import type { PeerCertificate } from "node:tls"
import { listenAddressOf, NodeConfig, type NodeConfigShape, peerAuthenticationOf, tlsPortOf } from "../config/NodeConfig.js"
import { formatHostPort } from "../config/parse.js"
import { CertificateSource } from "./CertificateSource.js"
import {
  type FileText,
  issuerAmong,
  type MaterialError,
  type TlsFileTexts,
  type TlsMaterial,
  tlsMaterial,
  validityProblem
} from "./tlsMaterial.js"

/** What the gRPC edge needs to speak TLS and to tell members from strangers. */
export interface TlsShape {
  /** Credentials of the gRPC port; undefined = plain text. */
  readonly server: ServerCredentials | undefined
  /** Credentials for dialling peers; undefined = plain text. */
  readonly peer: ChannelCredentials | undefined
  /** Whether nodes authenticate each other by certificate (PEER_TLS_*). */
  readonly mutual: boolean
  /**
   * Whether a client certificate that the handshake verified was issued by
   * the cluster CA and is valid now: only such callers are members. False
   * for any certificate without PEER_TLS_*.
   */
  readonly isClusterCertificate: (certificate: PeerCertificate) => boolean
}

/** Verdicts on client certificates kept at most (a verdict costs a signature check). */
const VERDICT_CACHE = 4096

const reason = (error: unknown) => (error instanceof Error ? error.message : String(error))

const readText = (variable: string, path: string): Effect.Effect<FileText, MaterialError> =>
  Effect.tryPromise({
    try: () => readFile(path, "utf8"),
    catch: (error): MaterialError => ({ variable, message: `cannot read ${path}: ${reason(error)}` })
  }).pipe(Effect.map((text) => ({ variable, path, text })))

const readFiles = (c: NodeConfigShape): Effect.Effect<TlsFileTexts, MaterialError> =>
  Effect.all({
    tls: Option.match(c.tls, {
      onNone: () => Effect.succeed(undefined),
      onSome: (f) => Effect.all({ cert: readText("TLS_CERT_FILE", f.certFile), key: readText("TLS_KEY_FILE", f.keyFile) })
    }),
    clientCa: Option.match(c.tlsClientCaFile, {
      onNone: () => Effect.succeed(undefined),
      onSome: (path) => readText("TLS_CLIENT_CA_FILE", path)
    }),
    peer: Option.match(c.peerTls, {
      onNone: () => Effect.succeed(undefined),
      onSome: (f) =>
        Effect.all({
          ca: readText("PEER_TLS_CA_FILE", f.caFile),
          cert: readText("PEER_TLS_CERT_FILE", f.certFile),
          key: readText("PEER_TLS_KEY_FILE", f.keyFile)
        })
    })
  })

/** Every text of a set of files, to tell whether any changed. */
const contents = (texts: TlsFileTexts): string =>
  JSON.stringify([texts.tls?.cert.text, texts.tls?.key.text, texts.clientCa?.text, texts.peer?.ca.text, texts.peer?.cert.text, texts.peer?.key.text])

const describeCertificate = (certificate: X509Certificate) => ({
  subject: certificate.subject.replace(/\n/g, ", "),
  serial: certificate.serialNumber,
  notAfter: new Date(Date.parse(certificate.validTo)).toISOString()
})

/** Says at every start that INSECURE_CLUSTER is set, and what it does. */
const warnIfInsecure = (c: NodeConfigShape) => {
  if (!c.insecureCluster) return Effect.void
  const authentication = peerAuthenticationOf(c)
  return authentication.length === 0
    ? Effect.logWarning("INSECURE_CLUSTER=true: the internal services (replication, membership, ring agreement) answer anyone who reaches the gRPC port")
      .pipe(Effect.annotateLogs({ listen: formatHostPort(listenAddressOf(c)) }))
    : Effect.logWarning("INSECURE_CLUSTER=true changes nothing for the gRPC port: peers authenticate").pipe(
      Effect.annotateLogs({ authentication: authentication.join(", ") })
    )
}

/**
 * TLS for the gRPC port and the peer channels, from the PEM files the
 * settings name. Files are checked at start-up (a bad one stops the node,
 * naming its variable) and read again every TLS_RELOAD_INTERVAL: a changed
 * set that checks out is used by every new connection from then on, a set
 * that does not (a certificate renewed before its key, an expired one) is
 * logged and the certificates in use stay.
 */
export class Tls extends Effect.Service<Tls>()("cache/security/Tls", {
  scoped: Effect.gen(function*() {
    const config = yield* NodeConfig
    const clock = yield* Effect.clock
    yield* warnIfInsecure(config)
    if (!tlsPortOf(config)) {
      const plain: TlsShape = { server: undefined, peer: undefined, mutual: false, isClusterCertificate: () => false }
      return plain
    }
    const check = (texts: TlsFileTexts): Effect.Effect<TlsMaterial, MaterialError> => {
      const checked = tlsMaterial(texts, clock.unsafeCurrentTimeMillis(), config.addr.host)
      return checked.ok ? Effect.succeed(checked.value) : Effect.fail(checked.error)
    }
    const firstTexts = yield* Effect.mapError(readFiles(config), (error) => ConfigError.InvalidData([error.variable], error.message))
    let material = yield* Effect.mapError(check(firstTexts), (error) => ConfigError.InvalidData([error.variable], error.message))
    let loaded = contents(firstTexts)

    const serverSource = new CertificateSource()
    const peerSource = new CertificateSource()
    const publish = (m: TlsMaterial) => {
      serverSource.publish(m.clientTrust, m.served)
      if (m.peer !== undefined) peerSource.publish(m.peer.caPem, m.peer.identity)
    }
    publish(material)
    const server = experimental.createCertificateProviderServerCredentials(
      serverSource,
      material.clientTrust === undefined ? null : serverSource,
      material.requireClientCertificate
    )
    // Without PEER_TLS_* the port is TLS for clients only; peers are dialled over TLS, checked against the system's CAs.
    const peer = material.peer === undefined
      ? credentials.createSsl()
      : experimental.createCertificateProviderChannelCredentials(peerSource, peerSource)

    // Verdicts by certificate fingerprint, dropped whenever the cluster CA may have changed.
    const verdicts = new Map<string, { readonly issued: boolean; readonly fromMs: number; readonly toMs: number }>()
    const isClusterCertificate = (certificate: PeerCertificate): boolean => {
      const cas = material.peer?.cas
      if (cas === undefined) return false
      let verdict = verdicts.get(certificate.fingerprint256)
      if (verdict === undefined) {
        let parsed: X509Certificate
        try {
          parsed = new X509Certificate(certificate.raw)
        } catch {
          return false
        }
        verdict = { issued: issuerAmong(parsed, cas) !== undefined, fromMs: Date.parse(parsed.validFrom), toMs: Date.parse(parsed.validTo) }
        if (verdicts.size >= VERDICT_CACHE) verdicts.clear()
        verdicts.set(certificate.fingerprint256, verdict)
      }
      const now = clock.unsafeCurrentTimeMillis()
      return verdict.issued && now >= verdict.fromMs && now <= verdict.toMs
    }

    // The last problem logged, so that a file that stays wrong is logged once, not every interval.
    let lastProblem: string | undefined
    const once = (key: string, log: Effect.Effect<void>) => {
      if (key === lastProblem) return Effect.void
      lastProblem = key
      return log
    }
    const problem = (variable: string, message: string) =>
      once(
        `${variable}: ${message}`,
        Effect.logWarning("TLS files not reloaded; the certificates in use stay").pipe(Effect.annotateLogs({ variable, reason: message }))
      )
    /** Files as they were: nothing to do, unless a certificate in use ran out of validity meanwhile. */
    const unchanged = Effect.suspend(() => {
      const now = clock.unsafeCurrentTimeMillis()
      const leaves = material.peer === undefined ? [material.served.leaf] : [material.served.leaf, material.peer.identity.leaf]
      const stale = leaves.find((leaf) => validityProblem(leaf, now) !== undefined)
      return stale === undefined ? Effect.void : once(
        `invalid ${stale.fingerprint256}`,
        Effect.logWarning("a TLS certificate in use is no longer valid; renew its files").pipe(
          Effect.annotateLogs({ certificate: describeCertificate(stale), reason: validityProblem(stale, now) })
        )
      )
    })
    const use = (next: TlsMaterial, texts: TlsFileTexts) =>
      Effect.suspend(() => {
        material = next
        loaded = contents(texts)
        lastProblem = undefined
        verdicts.clear()
        publish(next)
        return Effect.logInfo("TLS certificates reloaded").pipe(Effect.annotateLogs({
          served: describeCertificate(next.served.leaf),
          ...(next.peer === undefined ? {} : { node: describeCertificate(next.peer.identity.leaf) })
        }))
      })
    const reload = readFiles(config).pipe(
      Effect.flatMap((texts) => (contents(texts) === loaded ? unchanged : Effect.flatMap(check(texts), (next) => use(next, texts)))),
      Effect.catchAll((error) => problem(error.variable, error.message))
    )
    yield* Effect.forkScoped(Effect.forever(Effect.zipRight(Effect.sleep(config.tlsReloadInterval), reload)))
    yield* Effect.logInfo("TLS on the gRPC port").pipe(Effect.annotateLogs({
      served: describeCertificate(material.served.leaf),
      clientCertificates: material.requireClientCertificate ? "required" : material.clientTrust === undefined ? "not asked" : "asked",
      peers: material.peer === undefined ? "TLS, system CAs" : "mutual TLS"
    }))
    const shape: TlsShape = { server, peer, mutual: material.peer !== undefined, isClusterCertificate }
    return shape
  })
}) {}
