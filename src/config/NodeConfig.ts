import { Config, ConfigError, Context, Duration, Effect, Either, Layer, LogLevel, Option, Redacted } from "effect"
import { ENTRY_OVERHEAD_BYTES } from "./entryCost.js"
import { resolveAdminToken } from "./adminToken.js"
import * as parse from "./parse.js"
import type { AdminAddr, HostPort } from "./parse.js"

/** Membership updates one message may carry at most (GOSSIP_PER_MESSAGE's ceiling); peers refuse more. */
export const MAX_GOSSIP_PER_MESSAGE = 64

/** Log output format: one JSON object per line for machines, or coloured lines for people. */
export type LogFormat = "json" | "pretty" | "logfmt"

/** Every setting of a node, read once at start-up and validated. */
export interface NodeConfigShape {
  /** Address this node listens on and is known by (`ADDR`). */
  readonly addr: HostPort
  /** Address the gRPC server binds (`LISTEN_ADDR`); none = `addr`. Differs in containers: bind 0.0.0.0, be known by name. */
  readonly listenAddr: Option.Option<HostPort>
  /** The admin HTTP server (`ADMIN_ADDR`): admin API, /metrics, /healthz, /readyz. */
  readonly adminAddr: AdminAddr
  /** Bearer token the admin API asks for (`ADMIN_TOKEN` or `ADMIN_TOKEN_FILE`); required when it binds beyond loopback. */
  readonly adminToken: Option.Option<Redacted.Redacted<string>>
  /** Seed nodes to join (`PEERS`). */
  readonly peers: ReadonlyArray<HostPort>
  readonly numShards: number
  /** Records the whole node may hold: live values and tombstones. */
  readonly capacity: number
  /** Approximate bytes the store may hold: keys, values and a fixed per-entry overhead. */
  readonly maxMemoryBytes: number
  /** TTL of a write that does not give one; zero means no expiry. */
  readonly defaultTtl: Duration.Duration
  readonly maxKeyBytes: number
  readonly maxValueBytes: number
  readonly maxRecvMsgBytes: number
  readonly maxSendMsgBytes: number
  /** Deadline of calls between nodes. */
  readonly rpcTimeout: Duration.Duration
  /** Client calls per second the node admits; zero turns the limit off. */
  readonly rateLimit: number
  readonly rateLimitBurst: number
  /** Client calls per second one client connection gets at most (under the node's limit); zero = no per-client limit. */
  readonly rateLimitPerClient: number
  readonly rateLimitPerClientBurst: number
  readonly logLevel: LogLevel.LogLevel
  readonly logFormat: LogFormat
  /** How long shutdown waits for in-flight calls before cutting them off. */
  readonly drainTimeout: Duration.Duration
  readonly expirySweepInterval: Duration.Duration
  /** Entries each shard examines per sweep tick: bounds the pause a sweep causes. */
  readonly expirySweepBatch: number
  /** How long a deletion's tombstone is kept before it is collected. */
  readonly tombstoneGrace: Duration.Duration
  /** How far ahead of this node's clock a version from elsewhere may be before it is refused. */
  readonly maxClockOffset: Duration.Duration
  /** Copies of each key (capped by the number of ring members). */
  readonly replicationFactor: number
  /** Ring points per member. */
  readonly vnodes: number
  /** Shared secret peers must present on internal services (at least 16 bytes); none = no secret. */
  readonly clusterSecret: Option.Option<Redacted.Redacted<string>>
  /** TLS on the gRPC port for clients (`TLS_CERT_FILE`, `TLS_KEY_FILE`); none = plain text unless `peerTls` is set. */
  readonly tls: Option.Option<TlsFiles>
  /** Clients must present a certificate issued by a CA in this file (`TLS_CLIENT_CA_FILE`). */
  readonly tlsClientCaFile: Option.Option<string>
  /** Mutual TLS between nodes (`PEER_TLS_CA_FILE`, `PEER_TLS_CERT_FILE`, `PEER_TLS_KEY_FILE`). */
  readonly peerTls: Option.Option<PeerTlsFiles>
  /** How often certificate and key files are read again, so that renewed ones are used without a restart. */
  readonly tlsReloadInterval: Duration.Duration
  /** Lets a node listen beyond loopback with no peer authentication, and no admin token (`INSECURE_CLUSTER`); warned about at every start. */
  readonly insecureCluster: boolean
  /** SWIM protocol period: one member probed per period. */
  readonly probeInterval: Duration.Duration
  /** How long a direct probe waits before asking others to probe indirectly. */
  readonly probeTimeout: Duration.Duration
  /** Suspicion lasts this many protocol periods (times log10 of the cluster size) before death. */
  readonly suspicionMultiplier: number
  /** Members asked to probe a silent member on our behalf. */
  readonly indirectProbes: number
  /** Membership updates piggybacked on one message at most. */
  readonly gossipPerMessage: number
  /** Replica operations carried in one peer RPC at most. */
  readonly peerBatchMax: number
  /** Which replicas a read asks at once: all of them, or a quorum first (the rest on a failure or after `speculativeReadDelay`). */
  readonly readFanout: "all" | "quorum"
  /** With a quorum-first fan-out, when a read also asks the key's other replicas. */
  readonly speculativeReadDelay: Duration.Duration
  /** How long a dead member stays on the ring before it is removed. */
  readonly deadNodeTimeout: Duration.Duration
  /** How long a leaving node waits for the new owners to confirm its data. */
  readonly handoffTimeout: Duration.Duration
  /** Longest a pull of one peer's records may take as a whole. */
  readonly syncTimeout: Duration.Duration
  /** Bytes per second this node sends in data movement (pulls it answers, hand-off); 0 = no cap. */
  readonly syncBandwidth: number
  /** Pause between anti-entropy rounds (and sweeps that release keys this node no longer replicates). */
  readonly antiEntropyInterval: Duration.Duration
}

/** A certificate and its private key, PEM files. */
export interface TlsFiles {
  readonly certFile: string
  readonly keyFile: string
}

/** The cluster CA and this node's certificate and key, PEM files: mutual TLS between nodes. */
export interface PeerTlsFiles extends TlsFiles {
  readonly caFile: string
}

/** The fewest bytes a CLUSTER_SECRET may have (128 bits when random). */
export const MIN_CLUSTER_SECRET_BYTES = 16

/** The defaults, as documented in the README. */
export const defaults: NodeConfigShape = {
  addr: { host: "localhost", port: 8080 },
  listenAddr: Option.none(),
  adminAddr: { _tag: "Default" },
  adminToken: Option.none(),
  peers: [],
  numShards: 1,
  capacity: 1000,
  maxMemoryBytes: 256 * 1024 * 1024,
  defaultTtl: Duration.seconds(3600),
  maxKeyBytes: 4096,
  maxValueBytes: 1024 * 1024,
  maxRecvMsgBytes: 4 * 1024 * 1024,
  maxSendMsgBytes: 4 * 1024 * 1024,
  rpcTimeout: Duration.seconds(5),
  rateLimit: 50_000,
  rateLimitBurst: 50_000,
  rateLimitPerClient: 25_000,
  rateLimitPerClientBurst: 25_000,
  logLevel: LogLevel.Info,
  logFormat: "json",
  drainTimeout: Duration.seconds(10),
  expirySweepInterval: Duration.seconds(1),
  expirySweepBatch: 1000,
  tombstoneGrace: Duration.seconds(300),
  maxClockOffset: Duration.millis(500),
  replicationFactor: 3,
  vnodes: 256,
  clusterSecret: Option.none(),
  tls: Option.none(),
  tlsClientCaFile: Option.none(),
  peerTls: Option.none(),
  tlsReloadInterval: Duration.seconds(60),
  insecureCluster: false,
  probeInterval: Duration.millis(500),
  probeTimeout: Duration.millis(300),
  suspicionMultiplier: 4,
  indirectProbes: 3,
  gossipPerMessage: 16,
  peerBatchMax: 512,
  readFanout: "all",
  speculativeReadDelay: Duration.millis(50),
  deadNodeTimeout: Duration.seconds(60),
  handoffTimeout: Duration.seconds(30),
  syncTimeout: Duration.seconds(300),
  syncBandwidth: 64 * 1024 * 1024,
  antiEntropyInterval: Duration.seconds(10)
}

/**
 * Bytes of records, operations or answers a node puts in one message it
 * builds: half the smaller message limit, leaving room for framing and for a
 * peer whose limits are set a little lower.
 */
export const messageBudgetBytes = (c: Pick<NodeConfigShape, "maxSendMsgBytes" | "maxRecvMsgBytes">): number =>
  Math.floor(Math.min(c.maxSendMsgBytes, c.maxRecvMsgBytes) / 2)

/** Default port of a `PEERS` entry given without one. */
export const DEFAULT_PEER_PORT = 8080

/** A setting read as text and parsed by one of the pure parsers. */
export const setting = <A>(name: string, description: string, parser: (raw: string) => parse.Parsed<A>) =>
  Config.string(name).pipe(
    Config.mapOrFail((raw) => {
      const parsed = parser(raw)
      return parsed.ok ? Either.right(parsed.value) : Either.left(ConfigError.InvalidData([], parsed.error))
    }),
    Config.withDescription(description)
  )

const LOG_LEVELS = ["all", "trace", "debug", "info", "warn", "warning", "error", "fatal", "none"] as const
const toLogLevel = (word: (typeof LOG_LEVELS)[number]): LogLevel.LogLevel =>
  word === "warn" ? LogLevel.Warning : LogLevel.fromLiteral(
    (word.charAt(0).toUpperCase() + word.slice(1)) as LogLevel.Literal
  )

const positive = (p: (raw: string) => parse.Parsed<number>) => parse.atLeast(1, p)
const millis = (ms: number) => Duration.millis(ms)
const positiveDuration = (raw: string): parse.Parsed<number> => {
  const ms = parse.parseDurationMs(raw)
  return !ms.ok || ms.value > 0 ? ms : { ok: false, error: `${raw.trim()} must be greater than zero` }
}

/** A file path: any non-empty text. */
const filePath = (raw: string): parse.Parsed<string> =>
  raw.trim() === "" ? { ok: false, error: "is empty; give a file path or leave it unset" } : { ok: true, value: raw.trim() }

const optionalFile = (name: string, description: string) => setting(name, description, filePath).pipe(Config.option)

/** TLS_* and PEER_TLS_* as set, before they are paired. */
const tlsSettings = Config.all({
  certFile: optionalFile("TLS_CERT_FILE", "PEM certificate (chain) of the gRPC port; with TLS_KEY_FILE turns TLS on"),
  keyFile: optionalFile("TLS_KEY_FILE", "PEM private key of TLS_CERT_FILE"),
  clientCaFile: optionalFile("TLS_CLIENT_CA_FILE", "PEM CA certificates; clients must present a certificate one of them issued"),
  peerCaFile: optionalFile("PEER_TLS_CA_FILE", "PEM certificate of the cluster CA: peers must present a certificate it issued"),
  peerCertFile: optionalFile("PEER_TLS_CERT_FILE", "PEM certificate of this node, issued by the cluster CA"),
  peerKeyFile: optionalFile("PEER_TLS_KEY_FILE", "PEM private key of PEER_TLS_CERT_FILE")
})

/** Pairs the TLS files: TLS_CERT_FILE and TLS_KEY_FILE both or neither, PEER_TLS_* all three or none. */
const pairTls = (s: Config.Config.Success<typeof tlsSettings>): Either.Either<
  Pick<NodeConfigShape, "tls" | "tlsClientCaFile" | "peerTls">,
  ConfigError.ConfigError
> => {
  /** The first unset variable of a group of which some are set. */
  const incomplete = (names: ReadonlyArray<readonly [string, Option.Option<string>]>): ConfigError.ConfigError | undefined => {
    const set = names.filter(([, v]) => Option.isSome(v)).map(([n]) => n)
    const unset = names.filter(([, v]) => Option.isNone(v)).map(([n]) => n)
    return set.length > 0 && unset.length > 0
      ? ConfigError.InvalidData([unset[0]!], `must be set with ${set.join(" and ")} (set ${names.map(([n]) => n).join(", ")}, or none of them)`)
      : undefined
  }
  const error = incomplete([["TLS_CERT_FILE", s.certFile], ["TLS_KEY_FILE", s.keyFile]]) ??
    incomplete([["PEER_TLS_CA_FILE", s.peerCaFile], ["PEER_TLS_CERT_FILE", s.peerCertFile], ["PEER_TLS_KEY_FILE", s.peerKeyFile]])
  if (error !== undefined) return Either.left(error)
  return Either.right({
    tls: Option.zipWith(s.certFile, s.keyFile, (certFile, keyFile): TlsFiles => ({ certFile, keyFile })),
    tlsClientCaFile: s.clientCaFile,
    peerTls: Option.all({ caFile: s.peerCaFile, certFile: s.peerCertFile, keyFile: s.peerKeyFile })
  })
}

const config = Config.all({
  addr: setting("ADDR", "host:port this node listens on and is known by", (raw) => parse.parseHostPort(raw)).pipe(
    Config.withDefault(defaults.addr)
  ),
  listenAddr: setting("LISTEN_ADDR", "host:port the gRPC server binds; default ADDR", (raw) => parse.parseHostPort(raw)).pipe(
    Config.option
  ),
  adminAddr: setting("ADMIN_ADDR", "host:port of the admin HTTP server, or off", parse.parseAdminAddr).pipe(
    Config.withDefault(defaults.adminAddr)
  ),
  adminToken: Config.all({
    token: Config.redacted("ADMIN_TOKEN").pipe(Config.option),
    file: Config.string("ADMIN_TOKEN_FILE").pipe(Config.option)
  }).pipe(
    Config.mapOrFail(({ file, token }) => {
      const source = resolveAdminToken(Option.getOrUndefined(Option.map(token, Redacted.value)), Option.getOrUndefined(file))
      if (!source.ok) return Either.left(ConfigError.InvalidData([source.variable], source.error))
      return Either.right(Option.map(Option.fromNullable(source.token), Redacted.make))
    }),
    Config.withDescription("bearer token of the admin API, or a file holding it (ADMIN_TOKEN_FILE)")
  ),
  peers: setting("PEERS", "comma-separated seed nodes, host or host:port", (raw) =>
    parse.parsePeerList(raw, DEFAULT_PEER_PORT)).pipe(Config.withDefault(defaults.peers)),
  numShards: setting("NUM_SHARDS", "shards of the local store", positive(parse.parseInteger)).pipe(
    Config.withDefault(defaults.numShards)
  ),
  capacity: setting("CAPACITY", "entries the node holds before LRU eviction", positive(parse.parseInteger)).pipe(
    Config.withDefault(defaults.capacity)
  ),
  maxMemoryBytes: setting("MAX_MEMORY", "approximate bytes the store holds before LRU eviction", positive(parse.parseBytes))
    .pipe(Config.withDefault(defaults.maxMemoryBytes)),
  defaultTtl: setting("TTL", "default time to live (seconds, or with a unit); 0 = no expiry", parse.parseDurationMs).pipe(
    Config.map(millis),
    Config.withDefault(defaults.defaultTtl)
  ),
  maxKeyBytes: setting("MAX_KEY_SIZE", "largest key in bytes", positive(parse.parseBytes)).pipe(
    Config.withDefault(defaults.maxKeyBytes)
  ),
  maxValueBytes: setting("MAX_VALUE_SIZE", "largest value in bytes", parse.parseBytes).pipe(
    Config.withDefault(defaults.maxValueBytes)
  ),
  maxRecvMsgBytes: setting("MAX_RECV_MSG_SIZE", "largest gRPC message received", positive(parse.parseBytes)).pipe(
    Config.withDefault(defaults.maxRecvMsgBytes)
  ),
  maxSendMsgBytes: setting("MAX_SEND_MSG_SIZE", "largest gRPC message sent", positive(parse.parseBytes)).pipe(
    Config.withDefault(defaults.maxSendMsgBytes)
  ),
  rpcTimeout: setting("RPC_TIMEOUT", "deadline of calls between nodes", positiveDuration).pipe(
    Config.map(millis),
    Config.withDefault(defaults.rpcTimeout)
  ),
  rateLimit: setting("RATE_LIMIT", "client calls per second; 0 = unlimited", parse.parseDecimal).pipe(
    Config.withDefault(defaults.rateLimit)
  ),
  rateLimitPerClient: setting("RATE_LIMIT_PER_CLIENT", "client calls per second per connection; default RATE_LIMIT / 2; 0 = none", parse.parseDecimal).pipe(
    Config.option
  ),
  rateLimitBurst: setting("RATE_LIMIT_BURST", "token bucket size; default RATE_LIMIT", positive(parse.parseInteger)).pipe(
    Config.option
  ),
  logLevel: setting("LOG_LEVEL", "trace, debug, info, warn, error, fatal or none", parse.parseChoice(LOG_LEVELS)).pipe(
    Config.map(toLogLevel),
    Config.withDefault(defaults.logLevel)
  ),
  logFormat: setting("LOG_FORMAT", "json, pretty or logfmt", parse.parseChoice(["json", "pretty", "logfmt"] as const))
    .pipe(Config.withDefault(defaults.logFormat)),
  drainTimeout: setting("DRAIN_TIMEOUT", "how long shutdown waits for in-flight calls", parse.parseDurationMs).pipe(
    Config.map(millis),
    Config.withDefault(defaults.drainTimeout)
  ),
  expirySweepInterval: setting("EXPIRY_SWEEP_INTERVAL", "pause between expiry sweeps", positiveDuration).pipe(
    Config.map(millis),
    Config.withDefault(defaults.expirySweepInterval)
  ),
  expirySweepBatch: setting("EXPIRY_SWEEP_BATCH", "entries per shard examined per sweep", positive(parse.parseInteger))
    .pipe(Config.withDefault(defaults.expirySweepBatch)),
  tombstoneGrace: setting("TOMBSTONE_GRACE", "how long deletions are remembered", parse.parseDurationMs).pipe(
    Config.map(millis),
    Config.withDefault(defaults.tombstoneGrace)
  ),
  maxClockOffset: setting("MAX_CLOCK_OFFSET", "how far ahead of this clock a version may be", positiveDuration).pipe(
    Config.map(millis),
    Config.withDefault(defaults.maxClockOffset)
  ),
  replicationFactor: setting("REPLICATION_FACTOR", "copies of each key", positive(parse.parseInteger)).pipe(
    Config.withDefault(defaults.replicationFactor)
  ),
  vnodes: setting("VNODES", "ring points per member", positive(parse.parseInteger)).pipe(
    Config.withDefault(defaults.vnodes)
  ),
  clusterSecret: Config.redacted("CLUSTER_SECRET").pipe(
    Config.withDescription("shared secret for internal services, at least 16 bytes"),
    Config.option
  ),
  tlsFiles: tlsSettings.pipe(Config.mapOrFail(pairTls)),
  tlsReloadInterval: setting("TLS_RELOAD_INTERVAL", "how often certificate and key files are read again", positiveDuration).pipe(
    Config.map(millis),
    Config.withDefault(defaults.tlsReloadInterval)
  ),
  insecureCluster: setting("INSECURE_CLUSTER", "true lets a node listen beyond loopback without peer authentication", parse.parseBoolean)
    .pipe(Config.withDefault(defaults.insecureCluster)),
  probeInterval: setting("PROBE_INTERVAL", "SWIM protocol period", positiveDuration).pipe(
    Config.map(millis),
    Config.withDefault(defaults.probeInterval)
  ),
  probeTimeout: setting("PROBE_TIMEOUT", "direct probe timeout", positiveDuration).pipe(
    Config.map(millis),
    Config.withDefault(defaults.probeTimeout)
  ),
  suspicionMultiplier: setting("SUSPICION_MULT", "suspicion length in protocol periods", positive(parse.parseInteger))
    .pipe(Config.withDefault(defaults.suspicionMultiplier)),
  indirectProbes: setting("INDIRECT_PROBES", "members asked to probe indirectly", parse.parseInteger).pipe(
    Config.withDefault(defaults.indirectProbes)
  ),
  // Peers refuse a message with more updates than MAX_GOSSIP_PER_MESSAGE.
  gossipPerMessage: setting("GOSSIP_PER_MESSAGE", "membership updates per message", parse.atMost(MAX_GOSSIP_PER_MESSAGE, positive(parse.parseInteger)))
    .pipe(Config.withDefault(defaults.gossipPerMessage)),
  peerBatchMax: setting("PEER_BATCH_MAX", "replica operations per peer RPC", positive(parse.parseInteger)).pipe(
    Config.withDefault(defaults.peerBatchMax)
  ),
  readFanout: setting("READ_FANOUT", "all, or quorum (the others after SPECULATIVE_READ_DELAY)", parse.parseChoice(["all", "quorum"] as const))
    .pipe(Config.withDefault(defaults.readFanout)),
  speculativeReadDelay: setting("SPECULATIVE_READ_DELAY", "when a read also asks the replicas beyond its quorum", parse.parseDurationMs)
    .pipe(Config.map(millis), Config.withDefault(defaults.speculativeReadDelay)),
  deadNodeTimeout: setting("DEAD_NODE_TIMEOUT", "how long a dead member stays on the ring", positiveDuration).pipe(
    Config.map(millis),
    Config.withDefault(defaults.deadNodeTimeout)
  ),
  handoffTimeout: setting("HANDOFF_TIMEOUT", "how long a leaving node waits for its data to be confirmed", positiveDuration)
    .pipe(Config.map(millis), Config.withDefault(defaults.handoffTimeout)),
  syncTimeout: setting("SYNC_TIMEOUT", "longest a pull of one peer's records may take", positiveDuration).pipe(
    Config.map(millis),
    Config.withDefault(defaults.syncTimeout)
  ),
  syncBandwidth: setting("SYNC_BANDWIDTH", "bytes per second sent moving data; 0 = no cap", parse.parseBytes).pipe(
    Config.withDefault(defaults.syncBandwidth)
  ),
  antiEntropyInterval: setting("ANTI_ENTROPY_INTERVAL", "pause between anti-entropy rounds", positiveDuration).pipe(
    Config.map(millis),
    Config.withDefault(defaults.antiEntropyInterval)
  )
}).pipe(
  Config.map(({ rateLimitBurst, rateLimitPerClient, tlsFiles, ...rest }): NodeConfigShape => {
    const burst = Option.getOrElse(rateLimitBurst, () => Math.max(1, Math.ceil(rest.rateLimit)))
    // By default one connection gets at most half: whatever one client does, others keep the other half.
    const perClient = Option.getOrElse(rateLimitPerClient, () => rest.rateLimit / 2)
    return {
      ...rest,
      ...tlsFiles,
      rateLimitBurst: burst,
      rateLimitPerClient: perClient,
      rateLimitPerClientBurst: Option.isSome(rateLimitPerClient)
        ? Math.max(1, Math.min(burst, Math.ceil(perClient)))
        : Math.max(1, Math.ceil(burst / 2))
    }
  })
)

const invalid = (name: string, message: string) => Effect.fail(ConfigError.InvalidData([name], message))

/** The admin port's offset from the gRPC port when `ADMIN_ADDR` is not set (8080 -> 9080). */
export const ADMIN_PORT_OFFSET = 1000

/** This node's name in the cluster: its ADDR as "host:port", what peers dial and the ring lists. */
export const selfAddress = (c: NodeConfigShape): string => parse.formatHostPort(c.addr)

/** The address the gRPC server binds. */
export const listenAddressOf = (c: NodeConfigShape): HostPort => Option.getOrElse(c.listenAddr, () => c.addr)

/** The address the admin server binds; undefined when it is off. */
export const adminAddressOf = (c: NodeConfigShape): HostPort | undefined => {
  switch (c.adminAddr._tag) {
    case "Off":
      return undefined
    case "At":
      return c.adminAddr.addr
    case "Default": {
      const listen = listenAddressOf(c)
      return { host: listen.host, port: listen.port + ADMIN_PORT_OFFSET }
    }
  }
}

/** Room a message needs besides one record's key and value: version, epoch, trace context, framing. */
const MESSAGE_FRAMING_BYTES = 1024

/** Checks that hold across settings; each failure names the variable to change. */
const validate = (c: NodeConfigShape): Effect.Effect<NodeConfigShape, ConfigError.ConfigError> => {
  if (c.numShards > c.capacity) {
    return invalid("NUM_SHARDS", `${c.numShards} shards exceed CAPACITY ${c.capacity}: every shard needs room for one entry`)
  }
  // The largest record must fit one message on every path (client calls, replica operations, pulls).
  const largestRecord = c.maxKeyBytes + c.maxValueBytes + MESSAGE_FRAMING_BYTES
  if (largestRecord > c.maxRecvMsgBytes) {
    return invalid("MAX_VALUE_SIZE", `${c.maxValueBytes} plus MAX_KEY_SIZE ${c.maxKeyBytes} exceeds MAX_RECV_MSG_SIZE ${c.maxRecvMsgBytes}`)
  }
  if (largestRecord > c.maxSendMsgBytes) {
    return invalid("MAX_VALUE_SIZE", `${c.maxValueBytes} plus MAX_KEY_SIZE ${c.maxKeyBytes} exceeds MAX_SEND_MSG_SIZE ${c.maxSendMsgBytes}`)
  }
  const largestEntry = c.maxKeyBytes + c.maxValueBytes + ENTRY_OVERHEAD_BYTES
  const shardBytes = Math.floor(c.maxMemoryBytes / c.numShards)
  if (shardBytes < largestEntry) {
    return invalid(
      "MAX_MEMORY",
      `${c.maxMemoryBytes} bytes over ${c.numShards} shards leaves ${shardBytes} per shard, ` +
        `less than one largest entry (MAX_KEY_SIZE + MAX_VALUE_SIZE + ${ENTRY_OVERHEAD_BYTES} = ${largestEntry})`
    )
  }
  if (Duration.greaterThanOrEqualTo(c.probeTimeout, c.probeInterval)) {
    return invalid("PROBE_TIMEOUT", `${Duration.format(c.probeTimeout)} must be shorter than PROBE_INTERVAL ${Duration.format(c.probeInterval)}`)
  }
  if (c.vnodes * (c.peers.length + 1) > 1_000_000) {
    return invalid("VNODES", `${c.vnodes} points per member make the ring too large`)
  }
  const listen = listenAddressOf(c)
  const admin = adminAddressOf(c)
  if (admin !== undefined && admin.port > 65535) {
    return invalid("ADMIN_ADDR", `the default admin port (gRPC port ${listen.port} + ${ADMIN_PORT_OFFSET}) is above 65535; set ADMIN_ADDR`)
  }
  if (admin !== undefined && admin.port === listen.port && admin.host === listen.host) {
    return invalid("ADMIN_ADDR", `${parse.formatHostPort(admin)} is the gRPC listener's address`)
  }
  if (c.rateLimit > 0 && c.rateLimitBurst < 1) {
    return invalid("RATE_LIMIT_BURST", "must be at least 1 when RATE_LIMIT is set")
  }
  return Effect.flatMap(validateSecurity(c, listen), validateAdminToken)
}

/** An admin server beyond loopback asks callers for ADMIN_TOKEN, so it needs one (or INSECURE_CLUSTER). */
const validateAdminToken = (c: NodeConfigShape): Effect.Effect<NodeConfigShape, ConfigError.ConfigError> => {
  const admin = adminAddressOf(c)
  if (admin !== undefined && !parse.isLoopbackHost(admin.host) && Option.isNone(c.adminToken) && !c.insecureCluster) {
    return invalid(
      "ADMIN_TOKEN",
      `the admin server binds ${parse.formatHostPort(admin)}, beyond loopback: set ADMIN_TOKEN (or ADMIN_TOKEN_FILE) so that its API ` +
        "and /metrics ask for it, or INSECURE_CLUSTER=true to leave them open"
    )
  }
  return Effect.succeed(c)
}

/** How the internal services know a caller is a member: a certificate of the cluster CA, the shared secret, both, or nothing. */
export const peerAuthenticationOf = (c: NodeConfigShape): ReadonlyArray<"mutual TLS" | "cluster secret"> => [
  ...(Option.isSome(c.peerTls) ? ["mutual TLS" as const] : []),
  ...(Option.isSome(c.clusterSecret) ? ["cluster secret" as const] : [])
]

/** Whether the gRPC port speaks TLS: for clients (TLS_CERT_FILE), or because nodes use mutual TLS (PEER_TLS_*). */
export const tlsPortOf = (c: NodeConfigShape): boolean => Option.isSome(c.tls) || Option.isSome(c.peerTls)

/**
 * The security rules: a secret long enough to guess at no faster than a
 * 128-bit key, client certificates only on a TLS port, and no listener
 * beyond loopback whose internal services anyone may call, unless asked for
 * by name (INSECURE_CLUSTER).
 */
const validateSecurity = (c: NodeConfigShape, listen: HostPort): Effect.Effect<NodeConfigShape, ConfigError.ConfigError> => {
  if (Option.isSome(c.clusterSecret)) {
    const bytes = Buffer.byteLength(Redacted.value(c.clusterSecret.value), "utf8")
    if (bytes < MIN_CLUSTER_SECRET_BYTES) {
      return invalid(
        "CLUSTER_SECRET",
        `${bytes === 0 ? "is empty" : `is ${bytes} bytes`}; it needs at least ${MIN_CLUSTER_SECRET_BYTES} (openssl rand -hex 32 makes one), or leave it unset`
      )
    }
  }
  if (Option.isSome(c.tlsClientCaFile) && !tlsPortOf(c)) {
    return invalid(
      "TLS_CLIENT_CA_FILE",
      "needs TLS on the gRPC port: set TLS_CERT_FILE and TLS_KEY_FILE, or PEER_TLS_CA_FILE, PEER_TLS_CERT_FILE and PEER_TLS_KEY_FILE"
    )
  }
  if (Option.isSome(c.tlsClientCaFile) && Option.isNone(c.peerTls) && c.peers.length > 0) {
    return invalid(
      "TLS_CLIENT_CA_FILE",
      "nodes of a cluster dial each other and would have to present client certificates too: set PEER_TLS_CA_FILE, PEER_TLS_CERT_FILE and PEER_TLS_KEY_FILE as well"
    )
  }
  if (!parse.isLoopbackHost(listen.host) && peerAuthenticationOf(c).length === 0 && !c.insecureCluster) {
    return invalid(
      "CLUSTER_SECRET",
      `the gRPC listener ${parse.formatHostPort(listen)} (LISTEN_ADDR, else ADDR) is not on loopback, so peers must authenticate: ` +
        `set CLUSTER_SECRET (${MIN_CLUSTER_SECRET_BYTES} bytes or more) or PEER_TLS_CA_FILE, PEER_TLS_CERT_FILE and PEER_TLS_KEY_FILE (mutual TLS); ` +
        "INSECURE_CLUSTER=true lets anyone who reaches the port call the internal services"
    )
  }
  return Effect.succeed(c)
}

export class NodeConfig extends Context.Tag("cache/config/NodeConfig")<NodeConfig, NodeConfigShape>() {
  /** For tests: the defaults with some fields replaced. */
  static readonly layer = (overrides: Partial<NodeConfigShape> = {}): Layer.Layer<NodeConfig, ConfigError.ConfigError> =>
    Layer.effect(NodeConfig, validate({ ...defaults, ...overrides }))

  /** For production: every setting from the environment (or the current ConfigProvider). */
  static readonly layerFromEnv: Layer.Layer<NodeConfig, ConfigError.ConfigError> = Layer.effect(
    NodeConfig,
    Effect.flatMap(Effect.suspend(() => config), validate)
  )
}

/** One line naming the variable and what is wrong, for the start-up failure message. */
export const describeConfigError = (error: ConfigError.ConfigError): string =>
  ConfigError.reduceWithContext(error, undefined, {
    andCase: (_, left, right) => `${left}; ${right}`,
    orCase: (_, left, right) => `${left}; ${right}`,
    invalidDataCase: (_, path, message) => `${path.join(".")}: ${message}`,
    missingDataCase: (_, path, message) => `${path.join(".")}: ${message}`,
    sourceUnavailableCase: (_, path, message) => `${path.join(".")}: ${message}`,
    unsupportedCase: (_, path, message) => `${path.join(".")}: ${message}`
  })
