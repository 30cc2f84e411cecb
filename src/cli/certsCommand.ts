import { Command, Options } from "@effect/cli"
import { Clock, Console, Effect } from "effect"
import { existsSync } from "node:fs"
import { mkdir, readFile, writeFile } from "node:fs/promises"
import { join } from "node:path"
import {
  type CertificateAuthority,
  createAuthority,
  issueCertificate,
  type IssuedCertificate,
  loadAuthority,
  validFor
} from "../security/certificates.js"

/** The names a node certificate carries besides the node's own with `--loopback`. */
export const LOOPBACK_NAMES = ["localhost", "127.0.0.1", "::1"] as const

/** A node's name as a file name: `cache-0.svc` stays, `*` and `:` do not. */
const fileNameOf = (name: string) => name.replace(/[^A-Za-z0-9._-]/g, "_")

const write = (path: string, text: string, secret: boolean) => writeFile(path, text, { mode: secret ? 0o600 : 0o644 })

/** The CA kept in `dir` under `name` (so that more certificates can be issued later), or a new one written there. */
const authority = (dir: string, name: string, commonName: string, days: number, now: Date) =>
  Effect.promise(async (): Promise<{ ca: CertificateAuthority; reused: boolean }> => {
    const certPath = join(dir, `${name}.pem`)
    const keyPath = join(dir, `${name}-key.pem`)
    if (existsSync(certPath) && existsSync(keyPath)) {
      return { ca: await loadAuthority(await readFile(certPath, "utf8"), await readFile(keyPath, "utf8")), reused: true }
    }
    // The CA outlives what it issues: ten times as long, at least ten years.
    const ca = await createAuthority(commonName, validFor(now, Math.max(days * 10, 3650)))
    await write(certPath, ca.certPem, false)
    await write(keyPath, ca.keyPem, true)
    return { ca, reused: false }
  })

const writeIssued = (dir: string, name: string, issued: IssuedCertificate) =>
  Effect.promise(async () => {
    await write(join(dir, `${name}.pem`), issued.certPem, false)
    await write(join(dir, `${name}-key.pem`), issued.keyPem, true)
  })

const out = Options.directory("out").pipe(Options.withDescription("directory to write the files to (made if missing)"))
const nodes = Options.text("nodes").pipe(
  Options.withDescription("comma-separated node names as peers dial them (ADDR's host): DNS names or IP addresses")
)
const days = Options.integer("days").pipe(Options.withDefault(365), Options.withDescription("validity of the node and client certificates"))
const loopback = Options.boolean("loopback").pipe(
  Options.withDescription(`also name ${LOOPBACK_NAMES.join(", ")} in every node certificate (nodes on one machine)`)
)

/**
 * `pnpm cli certs`: a private PKI for one cluster. The cluster CA (ca.pem)
 * issues the node certificates (server and client use: a node serves its
 * port and dials its peers with the same one); a second CA (client-ca.pem)
 * issues client.pem for tools, so that a client certificate can never call
 * the internal services. Existing CAs in the directory are reused, so
 * running it again renews node certificates or adds nodes.
 */
export const certs = Command.make("certs", { out, nodes, days, loopback }, ({ days, loopback, nodes, out }) =>
  Effect.gen(function*() {
    const names = nodes.split(",").map((n) => n.trim()).filter((n) => n !== "")
    if (names.length === 0) return yield* Effect.fail(new Error("--nodes names no node"))
    if (days < 1) return yield* Effect.fail(new Error("--days must be at least 1"))
    const now = new Date(yield* Clock.currentTimeMillis)
    yield* Effect.promise(() => mkdir(out, { recursive: true }))
    const cluster = yield* authority(out, "ca", "quorum-cache cluster CA", days, now)
    const clients = yield* authority(out, "client-ca", "quorum-cache client CA", days, now)
    const validity = validFor(now, days)
    const written: Array<string> = []
    for (const name of names) {
      const sans = [...new Set(loopback ? [name, ...LOOPBACK_NAMES] : [name])]
      const issued = yield* Effect.promise(() => issueCertificate(cluster.ca, { commonName: name, names: sans, use: "node", ...validity }))
      yield* writeIssued(out, fileNameOf(name), issued)
      written.push(`${fileNameOf(name)}.pem, ${fileNameOf(name)}-key.pem  node ${name} (${sans.join(", ")})`)
    }
    const client = yield* Effect.promise(() =>
      issueCertificate(clients.ca, { commonName: "quorum-cache client", names: [], use: "client", ...validity })
    )
    yield* writeIssued(out, "client", client)
    yield* Console.log([
      `in ${out}:`,
      `  ca.pem, ca-key.pem                cluster CA (${cluster.reused ? "kept" : "new"}): PEER_TLS_CA_FILE on every node, -cacert for clients`,
      `  client-ca.pem, client-ca-key.pem  client CA (${clients.reused ? "kept" : "new"}): TLS_CLIENT_CA_FILE to require client certificates`,
      ...written.map((line) => `  ${line}`),
      `  client.pem, client-key.pem        a client certificate for tools (-cert, -key)`,
      `valid until ${validity.notAfter.toISOString()}; keep the *-key.pem files secret`
    ].join("\n"))
  }).pipe(
    Effect.catchAll((error) =>
      Effect.zipRight(Console.error(`cache-cli certs: ${error.message}`), Effect.sync(() => {
        process.exitCode = 1
      }))
    )
  )).pipe(Command.withDescription("make a cluster CA, node certificates (server and client) and a client certificate for tools"))
