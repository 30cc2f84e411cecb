import { Metadata, ServerInterceptingCall, type ServerInterceptor, status } from "@grpc/grpc-js"
import type { PeerCertificate } from "node:tls"

/** Methods of the internal services (replication, membership, ring agreement, data movement). */
export const INTERNAL_METHOD_PREFIX = "/cluster.v1."

/** What a caller of an internal method hears when it is not a member. */
export const NOT_A_MEMBER = "internal service: the caller presented no valid client certificate issued by the cluster CA (PEER_TLS_CA_FILE)"

/**
 * A grpc-js server interceptor (nice-grpc's middleware cannot see the TLS
 * session) that lets internal methods run only for callers whose client
 * certificate the handshake verified and `isMember` accepts: one issued by
 * the cluster CA and valid now. grpc-js reports a peer certificate only for
 * a connection whose certificate verified against the port's trusted CAs,
 * which may include TLS_CLIENT_CA_FILE's, hence the second check. Client
 * methods pass untouched.
 */
export const requireClusterCertificate = (isMember: (certificate: PeerCertificate) => boolean): ServerInterceptor =>
(method, call) => {
  if (!method.path.startsWith(INTERNAL_METHOD_PREFIX)) return new ServerInterceptingCall(call)
  return new ServerInterceptingCall(call, {
    start: (next) =>
      next({
        onReceiveMetadata: (metadata, pass) => {
          const certificate = call.getAuthContext().sslPeerCertificate
          if (certificate !== undefined && isMember(certificate)) return pass(metadata)
          call.sendStatus({ code: status.UNAUTHENTICATED, details: NOT_A_MEMBER, metadata: new Metadata() })
        }
      })
  })
}
