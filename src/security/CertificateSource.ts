import type { experimental } from "@grpc/grpc-js"

type CaUpdate = experimental.CaCertificateUpdate
type IdentityUpdate = experimental.IdentityCertificateUpdate

/**
 * A grpc-js certificate provider fed by the Tls service: grpc-js builds a new
 * secure context from whatever it last published, so new connections (on
 * the server port and to peers) use renewed certificates while open ones
 * keep theirs. Unlike grpc-js's own FileWatcherCertificateProvider it never
 * publishes a file it could not check (a certificate written before its
 * key, a truncated file): the Tls service publishes only checked material.
 */
export class CertificateSource implements experimental.CertificateProvider {
  private ca: CaUpdate | undefined
  private identity: IdentityUpdate | undefined
  private readonly caListeners = new Set<experimental.CaCertificateUpdateListener>()
  private readonly identityListeners = new Set<experimental.IdentityCertificateUpdateListener>()

  /** Publishes new material; parts that did not change are not announced again. */
  publish(ca: Buffer | undefined, identity: { readonly cert: Buffer; readonly key: Buffer } | undefined): void {
    if (ca !== undefined && !(this.ca?.caCertificate.equals(ca) ?? false)) {
      this.ca = { caCertificate: ca }
      for (const listener of this.caListeners) listener(this.ca)
    }
    if (
      identity !== undefined &&
      !((this.identity?.certificate.equals(identity.cert) ?? false) && (this.identity?.privateKey.equals(identity.key) ?? false))
    ) {
      this.identity = { certificate: identity.cert, privateKey: identity.key }
      for (const listener of this.identityListeners) listener(this.identity)
    }
  }

  // grpc-js registers a listener before its own watcher: the current material (as it is then) arrives on the next tick, as with grpc-js's providers.
  addCaCertificateListener(listener: experimental.CaCertificateUpdateListener): void {
    this.caListeners.add(listener)
    if (this.ca !== undefined) process.nextTick(() => this.caListeners.has(listener) && this.ca !== undefined && listener(this.ca))
  }

  removeCaCertificateListener(listener: experimental.CaCertificateUpdateListener): void {
    this.caListeners.delete(listener)
  }

  addIdentityCertificateListener(listener: experimental.IdentityCertificateUpdateListener): void {
    this.identityListeners.add(listener)
    if (this.identity !== undefined) {
      process.nextTick(() => this.identityListeners.has(listener) && this.identity !== undefined && listener(this.identity))
    }
  }

  removeIdentityCertificateListener(listener: experimental.IdentityCertificateUpdateListener): void {
    this.identityListeners.delete(listener)
  }
}
