import { describe, expect, it } from "@effect/vitest"
import { errorOf, itRejectsEach, loadConfig } from "../../testkit/config.js"
import { Duration, Effect, Either, Option, Redacted } from "effect"
import { peerAuthenticationOf, tlsPortOf } from "../../src/config/NodeConfig.js"
import { isLoopbackHost } from "../../src/config/parse.js"


const SECRET = "0123456789abcdef" // 16 bytes
const PEER_TLS = { PEER_TLS_CA_FILE: "ca.pem", PEER_TLS_CERT_FILE: "a.pem", PEER_TLS_KEY_FILE: "a-key.pem" }

describe("NodeConfig security settings", () => {
  it("counts 127.0.0.0/8, ::1 and localhost as loopback, and wildcards and other names as not", () => {
    for (const host of ["127.0.0.1", "127.9.8.7", "::1", "0:0:0:0:0:0:0:1", "::ffff:127.0.0.1", "localhost", "LOCALHOST", "localhost."]) {
      expect(isLoopbackHost(host), host).toBe(true)
    }
    for (const host of ["0.0.0.0", "::", "10.0.0.1", "128.0.0.1", "cache1", "localhost.example.com", "::2"]) {
      expect(isLoopbackHost(host), host).toBe(false)
    }
  })

  it.effect("reads the TLS files, TLS_RELOAD_INTERVAL and INSECURE_CLUSTER", () =>
    Effect.gen(function*() {
      const config = Either.getOrThrow(yield* loadConfig({
        TLS_CERT_FILE: "server.pem",
        TLS_KEY_FILE: " server-key.pem ",
        TLS_CLIENT_CA_FILE: "clients.pem",
        ...PEER_TLS,
        TLS_RELOAD_INTERVAL: "250ms",
        INSECURE_CLUSTER: "TRUE"
      }))
      expect(config.tls).toEqual(Option.some({ certFile: "server.pem", keyFile: "server-key.pem" }))
      expect(config.tlsClientCaFile).toEqual(Option.some("clients.pem"))
      expect(config.peerTls).toEqual(Option.some({ caFile: "ca.pem", certFile: "a.pem", keyFile: "a-key.pem" }))
      expect(Duration.toMillis(config.tlsReloadInterval)).toBe(250)
      expect(config.insecureCluster).toBe(true)
      expect(tlsPortOf(config)).toBe(true)
      expect(peerAuthenticationOf(config)).toEqual(["mutual TLS"])
    }))

  it.effect("needs nothing on loopback: plain text, no secret (pnpm start, the README's three nodes)", () =>
    Effect.gen(function*() {
      for (const env of [{}, { ADDR: "127.0.0.1:8081", PEERS: "127.0.0.1:8082,127.0.0.1:8083" }, { ADDR: "[::1]:8080" }]) {
        const config = Either.getOrThrow(yield* loadConfig(env))
        expect(tlsPortOf(config)).toBe(false)
        expect(peerAuthenticationOf(config)).toEqual([])
      }
    }))

  it.effect("lets a node listen beyond loopback with a secret of 16 bytes, mutual TLS, or INSECURE_CLUSTER=true", () =>
    Effect.gen(function*() {
      // The admin server binds there too: it needs its own token (test/config/NodeConfig.test.ts).
      const exposed = { ADDR: "cache1:8080", LISTEN_ADDR: "0.0.0.0:8080", ADMIN_TOKEN: SECRET }
      const secret = Either.getOrThrow(yield* loadConfig({ ...exposed, CLUSTER_SECRET: SECRET }))
      expect(Option.map(secret.clusterSecret, Redacted.value)).toEqual(Option.some(SECRET))
      expect(peerAuthenticationOf(Either.getOrThrow(yield* loadConfig({ ...exposed, ...PEER_TLS })))).toEqual(["mutual TLS"])
      expect(Either.getOrThrow(yield* loadConfig({ ...exposed, INSECURE_CLUSTER: "true" })).insecureCluster).toBe(true)
      // ADDR alone decides where it listens when LISTEN_ADDR is unset.
      expect(Either.isRight(yield* loadConfig({ ADDR: "10.1.2.3:8080", CLUSTER_SECRET: "é".repeat(8), ADMIN_TOKEN: SECRET }))).toBe(true) // 16 bytes in UTF-8
    }))

  const refused = "the gRPC listener"
  const bad: ReadonlyArray<readonly [Record<string, string>, string]> = [
    [{ LISTEN_ADDR: "0.0.0.0:8080" }, `CLUSTER_SECRET: ${refused} 0.0.0.0:8080 (LISTEN_ADDR, else ADDR) is not on loopback`],
    [{ LISTEN_ADDR: "[::]:8080" }, `CLUSTER_SECRET: ${refused} [::]:8080`],
    [{ ADDR: "10.213.0.2:8080" }, `CLUSTER_SECRET: ${refused} 10.213.0.2:8080`],
    [{ ADDR: "cache1:8080" }, "set CLUSTER_SECRET (16 bytes or more) or PEER_TLS_CA_FILE, PEER_TLS_CERT_FILE and PEER_TLS_KEY_FILE (mutual TLS); INSECURE_CLUSTER=true"],
    [{ ADDR: "cache1:8080", INSECURE_CLUSTER: "false" }, `CLUSTER_SECRET: ${refused} cache1:8080`],
    [{ CLUSTER_SECRET: "" }, "CLUSTER_SECRET: is empty; it needs at least 16"],
    [{ CLUSTER_SECRET: "0123456789abcde" }, "CLUSTER_SECRET: is 15 bytes; it needs at least 16"],
    [{ ADDR: "0.0.0.0:8080", CLUSTER_SECRET: "short" }, "CLUSTER_SECRET: is 5 bytes"],
    [{ INSECURE_CLUSTER: "maybe" }, "INSECURE_CLUSTER: \"maybe\" is not true or false"],
    [{ TLS_CERT_FILE: "a.pem" }, "TLS_KEY_FILE: must be set with TLS_CERT_FILE (set TLS_CERT_FILE, TLS_KEY_FILE, or none of them)"],
    [{ TLS_KEY_FILE: "a-key.pem" }, "TLS_CERT_FILE: must be set with TLS_KEY_FILE"],
    [{ TLS_CERT_FILE: "", TLS_KEY_FILE: "k.pem" }, "TLS_CERT_FILE: is empty; give a file path or leave it unset"],
    [{ PEER_TLS_CA_FILE: "ca.pem", PEER_TLS_KEY_FILE: "k.pem" }, "PEER_TLS_CERT_FILE: must be set with PEER_TLS_CA_FILE and PEER_TLS_KEY_FILE"],
    [{ PEER_TLS_CERT_FILE: "a.pem", PEER_TLS_KEY_FILE: "k.pem" }, "PEER_TLS_CA_FILE: must be set with PEER_TLS_CERT_FILE and PEER_TLS_KEY_FILE"],
    [{ TLS_CLIENT_CA_FILE: "clients.pem" }, "TLS_CLIENT_CA_FILE: needs TLS on the gRPC port"],
    [{ TLS_CLIENT_CA_FILE: "clients.pem", TLS_CERT_FILE: "s.pem", TLS_KEY_FILE: "k.pem", PEERS: "127.0.0.1:8082" }, "TLS_CLIENT_CA_FILE: nodes of a cluster dial each other"],
    [{ TLS_RELOAD_INTERVAL: "0" }, "TLS_RELOAD_INTERVAL: 0 must be greater than zero"]
  ]
  itRejectsEach(bad)

  it.effect("never prints the secret it refuses", () =>
    Effect.gen(function*() {
      expect(yield* errorOf({ CLUSTER_SECRET: "hunter2" })).not.toContain("hunter2")
    }))
})
