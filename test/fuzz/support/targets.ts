import * as grpc from "@grpc/grpc-js"
import { CLUSTER_SECRET_HEADER } from "../../../src/protocol/headers.js"
import { createAuthority, issueCertificate } from "../../../src/security/certificates.js"
import { current, pemDir } from "../../../testkit/tls.js"

/** Credentials and metadata a caller presents; the fuzz calls internal services as a member and as intruders. */
export interface Caller {
  readonly name: string
  readonly credentials: () => grpc.ChannelCredentials
  /** Extra channel options (an mTLS target name override, ...). */
  readonly channelOptions?: grpc.ChannelOptions
  readonly metadata: Record<string, string>
}

/** An intruder, and the codes its internal calls may end with: refused before any handler ran. */
export interface Intruder extends Caller {
  readonly refusedWith: ReadonlyArray<grpc.status>
}

/**
 * One configuration of the cluster under fuzz. Add an mTLS one by giving
 * `env` the node's certificate settings, `member` a client certificate the
 * nodes trust, `client` the credentials a client of pb.CacheService uses,
 * and `intruders` one without a certificate (refused with UNAVAILABLE at the
 * handshake) and one with a certificate of another CA.
 */
export interface FuzzTarget {
  readonly name: string
  /** Environment of every node, on top of the suite's defaults (see `cluster.ts`). */
  readonly env: Record<string, string>
  /** How a client of pb.CacheService connects. */
  readonly client: Caller
  /** How a member calls the internal services: what lets the fuzz reach their handlers. */
  readonly member: Caller
  /** Callers the internal services must refuse; empty when they are open to anyone who can connect. */
  readonly intruders: ReadonlyArray<Intruder>
  /** Headers of every admin request (admin authentication, when the node has it). */
  readonly adminHeaders: Record<string, string>
  /** Loopback hosts 127.0.0.<h> of its three nodes: each configuration has its own. */
  readonly hosts: readonly [number, number, number]
}

const insecure = () => grpc.credentials.createInsecure()
const plain = (name: string, metadata: Record<string, string> = {}): Caller => ({ name, credentials: insecure, metadata })

/** At least 16 bytes, as a deployment would use. */
const SECRET = "fuzz-cluster-secret-0123456789abcdef"

const UNAUTHENTICATED: ReadonlyArray<grpc.status> = [grpc.status.UNAUTHENTICATED]

const ADMIN_TOKEN = "fuzz-admin-token-0123456789abcdef"

/**
 * Mutual TLS: a cluster CA whose node certificate (naming the three loopback
 * hosts) every node serves and presents; another CA for an intruder.
 */
const MTLS_HOSTS = [220, 221, 222] as const
const mtls = await (async () => {
  const files = pemDir("fuzz-mtls")
  const validity = current()
  const ca = await createAuthority("fuzz cluster CA", validity)
  const stranger = await createAuthority("fuzz stranger CA", validity)
  const node = await issueCertificate(ca, { commonName: "fuzz node", names: MTLS_HOSTS.map((h) => `127.0.0.${h}`), use: "node", ...validity })
  const foreign = await issueCertificate(stranger, { commonName: "fuzz stranger", names: ["127.0.0.1"], use: "node", ...validity })
  return {
    env: {
      PEER_TLS_CA_FILE: files.write("ca.pem", ca.certPem),
      PEER_TLS_CERT_FILE: files.write("node.pem", node.certPem),
      PEER_TLS_KEY_FILE: files.write("node-key.pem", node.keyPem)
    },
    ca: Buffer.from(ca.certPem),
    node: { cert: Buffer.from(node.certPem), key: Buffer.from(node.keyPem) },
    foreign: { cert: Buffer.from(foreign.certPem), key: Buffer.from(foreign.keyPem) }
  }
})()
const tls = (name: string, identity?: { readonly cert: Buffer; readonly key: Buffer }): Caller => ({
  name,
  credentials: () => grpc.credentials.createSsl(mtls.ca, identity?.key ?? null, identity?.cert ?? null),
  metadata: {}
})

/** The configurations the suite fuzzes, each on a cluster of its own. */
export const FUZZ_TARGETS: ReadonlyArray<FuzzTarget> = [
  {
    name: "CLUSTER_SECRET set",
    env: { CLUSTER_SECRET: SECRET },
    client: plain("client"),
    member: plain("member", { [CLUSTER_SECRET_HEADER]: SECRET }),
    intruders: [
      { ...plain("no secret"), refusedWith: UNAUTHENTICATED },
      { ...plain("wrong secret", { [CLUSTER_SECRET_HEADER]: `${SECRET.slice(0, -1)}x` }), refusedWith: UNAUTHENTICATED },
      { ...plain("secret prefix", { [CLUSTER_SECRET_HEADER]: SECRET.slice(0, 16) }), refusedWith: UNAUTHENTICATED },
      { ...plain("empty secret", { [CLUSTER_SECRET_HEADER]: "" }), refusedWith: UNAUTHENTICATED }
    ],
    adminHeaders: {},
    hosts: [211, 212, 213]
  },
  {
    name: "mutual TLS, ADMIN_TOKEN",
    env: { ...mtls.env, ADMIN_TOKEN },
    client: tls("client"),
    member: tls("member", mtls.node),
    intruders: [
      { ...tls("no certificate"), refusedWith: UNAUTHENTICATED },
      { ...tls("another CA's certificate", mtls.foreign), refusedWith: UNAUTHENTICATED }
    ],
    adminHeaders: { authorization: `Bearer ${ADMIN_TOKEN}` },
    hosts: MTLS_HOSTS
  },
  {
    name: "no CLUSTER_SECRET",
    env: {},
    client: plain("client"),
    member: plain("member"),
    intruders: [],
    adminHeaders: {},
    hosts: [214, 215, 216]
  }
]

/** Loopback hosts for addresses nobody listens on (forged members, requesters that never answer). */
export const SPARE_HOSTS = [231, 232, 233]
