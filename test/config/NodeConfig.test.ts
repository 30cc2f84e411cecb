import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { describe, expect, it } from "@effect/vitest"
import { errorOf, itRejectsEach, loadConfig } from "../../testkit/config.js"
import { Duration, Effect, Either, LogLevel, Option, Redacted } from "effect"
import { adminAddressOf, defaults, listenAddressOf } from "../../src/config/NodeConfig.js"


describe("NodeConfig", () => {
  it.effect("uses the documented defaults when nothing is set", () =>
    Effect.gen(function*() {
      const config = Either.getOrThrow(yield* loadConfig({}))
      expect(config).toEqual(defaults)
      expect(config.addr).toEqual({ host: "localhost", port: 8080 })
      expect(config.numShards).toBe(1)
      expect(config.capacity).toBe(1000)
      expect(Duration.toSeconds(config.defaultTtl)).toBe(3600)
      expect(config.maxRecvMsgBytes).toBe(4194304)
      expect(Duration.toSeconds(config.rpcTimeout)).toBe(5)
    }))

  it.effect("reads every variable", () =>
    Effect.gen(function*() {
      const config = Either.getOrThrow(
        yield* loadConfig({
          ADDR: "cache1:9000",
          PEERS: "cache2, cache3:9001,,[::1]:7000",
          NUM_SHARDS: "4",
          CAPACITY: "100000",
          MAX_MEMORY: "64MiB",
          TTL: "90",
          MAX_KEY_SIZE: "256",
          MAX_VALUE_SIZE: "512KiB",
          MAX_RECV_MSG_SIZE: "8388608",
          MAX_SEND_MSG_SIZE: "8MiB",
          RPC_TIMEOUT: "0.25",
          RATE_LIMIT: "1000",
          LOG_LEVEL: "DEBUG",
          LOG_FORMAT: "pretty",
          DRAIN_TIMEOUT: "2s",
          TOMBSTONE_GRACE: "1m",
          // cache1 is not a loopback name: peers must authenticate, and so must admin callers.
          CLUSTER_SECRET: "0123456789abcdef",
          ADMIN_TOKEN: "0123456789abcdef"
        })
      )
      expect(config.addr).toEqual({ host: "cache1", port: 9000 })
      expect(config.peers).toEqual([
        { host: "cache2", port: 8080 },
        { host: "cache3", port: 9001 },
        { host: "::1", port: 7000 }
      ])
      expect(config.numShards).toBe(4)
      expect(config.maxMemoryBytes).toBe(64 * 1024 * 1024)
      expect(Duration.toMillis(config.defaultTtl)).toBe(90_000)
      expect(config.maxValueBytes).toBe(512 * 1024)
      expect(config.maxSendMsgBytes).toBe(8 * 1024 * 1024)
      expect(Duration.toMillis(config.rpcTimeout)).toBe(250)
      expect(config.rateLimit).toBe(1000)
      expect(config.rateLimitBurst).toBe(1000)
      expect(config.logLevel).toBe(LogLevel.Debug)
      expect(config.logFormat).toBe("pretty")
      expect(Duration.toMillis(config.drainTimeout)).toBe(2000)
      expect(Duration.toMillis(config.tombstoneGrace)).toBe(60_000)
    }))

  it.effect("binds where LISTEN_ADDR says and puts the admin server next to it unless ADMIN_ADDR says otherwise", () =>
    Effect.gen(function*() {
      const container = Either.getOrThrow(yield* loadConfig({ ADDR: "cache1:8080", LISTEN_ADDR: "0.0.0.0:8080", INSECURE_CLUSTER: "true" }))
      expect(listenAddressOf(container)).toEqual({ host: "0.0.0.0", port: 8080 })
      expect(adminAddressOf(container)).toEqual({ host: "0.0.0.0", port: 9080 })
      const local = Either.getOrThrow(yield* loadConfig({ ADDR: "127.0.0.1:8081" }))
      expect(listenAddressOf(local)).toEqual({ host: "127.0.0.1", port: 8081 })
      expect(adminAddressOf(local)).toEqual({ host: "127.0.0.1", port: 9081 })
      expect(adminAddressOf(Either.getOrThrow(yield* loadConfig({ ADMIN_ADDR: "OFF" })))).toBeUndefined()
      expect(adminAddressOf(Either.getOrThrow(yield* loadConfig({ ADMIN_ADDR: "127.0.0.1:0" })))).toEqual({ host: "127.0.0.1", port: 0 })
    }))

  it.effect("refuses to bind the admin server beyond loopback without ADMIN_TOKEN, unless INSECURE_CLUSTER=true", () =>
    Effect.gen(function*() {
      const exposed: ReadonlyArray<Record<string, string>> = [
        { LISTEN_ADDR: "0.0.0.0:8080" },
        { ADMIN_ADDR: "0.0.0.0:9080" },
        { ADMIN_ADDR: "[::]:9080" },
        { ADMIN_ADDR: "10.1.2.3:9080" },
        { ADDR: "cache1:8080" }
      ]
      for (const exposedEnv of exposed) {
        // Peers authenticate (their own rule, test/config/security.test.ts): what is left is the admin server.
        const env = { ...exposedEnv, CLUSTER_SECRET: "0123456789abcdef" }
        const error = yield* errorOf(env)
        expect(error, JSON.stringify(env)).toMatch(/^ADMIN_TOKEN: the admin server binds \S+, beyond loopback: set ADMIN_TOKEN/)
        expect(error).toContain("INSECURE_CLUSTER=true")
        expect(yield* errorOf({ ...env, ADMIN_TOKEN: "0123456789abcdef" })).toBe("no error")
        expect(yield* errorOf({ ...env, INSECURE_CLUSTER: "true" })).toBe("no error")
      }
      const loopback: ReadonlyArray<Record<string, string>> = [
        {},
        { ADMIN_ADDR: "127.0.0.5:9080" },
        { ADMIN_ADDR: "[::1]:9080" },
        { ADMIN_ADDR: "LocalHost:0" },
        { LISTEN_ADDR: "0.0.0.0:8080", ADMIN_ADDR: "127.0.0.1:9080" },
        { LISTEN_ADDR: "0.0.0.0:8080", ADMIN_ADDR: "off" }
      ]
      for (const env of loopback) expect(yield* errorOf({ ...env, CLUSTER_SECRET: "0123456789abcdef" }), JSON.stringify(env)).toBe("no error")
    }))

  it.effect("reads ADMIN_TOKEN, or the file ADMIN_TOKEN_FILE names, without the surrounding whitespace, and keeps it redacted", () =>
    Effect.gen(function*() {
      const token = "s3cret-admin-token-0123456789"
      const fromEnv = Either.getOrThrow(yield* loadConfig({ ADMIN_TOKEN: `${token}\n` }))
      expect(Option.map(fromEnv.adminToken, Redacted.value)).toEqual(Option.some(token))
      expect(String(fromEnv.adminToken)).not.toContain(token)
      const file = join(mkdtempSync(join(tmpdir(), "admin-token-")), "token")
      writeFileSync(file, `${token}\n`)
      const fromFile = Either.getOrThrow(yield* loadConfig({ ADMIN_TOKEN_FILE: file }))
      expect(Option.map(fromFile.adminToken, Redacted.value)).toEqual(Option.some(token))
      expect(Either.getOrThrow(yield* loadConfig({})).adminToken).toEqual(Option.none())
      writeFileSync(file, "too-short\n")
      const short = yield* errorOf({ ADMIN_TOKEN_FILE: file })
      expect(short).toBe(`ADMIN_TOKEN_FILE: the token in ${file} is 9 bytes long; use at least 16 random bytes (openssl rand -hex 32)`)
      expect(yield* errorOf({ ADMIN_TOKEN: "fifteen-bytes!!" })).not.toContain("fifteen")
    }))

  const bad: ReadonlyArray<readonly [Record<string, string>, string]> = [
    [{ NUM_SHARDS: "abc" }, "NUM_SHARDS: \"abc\" is not a whole number"],
    [{ NUM_SHARDS: "0" }, "NUM_SHARDS: 0 is below the minimum of 1"],
    [{ NUM_SHARDS: "-2" }, "NUM_SHARDS: \"-2\" is not a whole number"],
    [{ GOSSIP_PER_MESSAGE: "65" }, "GOSSIP_PER_MESSAGE: 65 is above the maximum of 64"],
    [{ CAPACITY: "1.5" }, "CAPACITY: \"1.5\" is not a whole number"],
    [{ CAPACITY: "" }, "CAPACITY: \"\" is not a whole number"],
    [{ ADDR: "localhost" }, "ADDR: \"localhost\" has no port"],
    [{ ADDR: "localhost:http" }, "ADDR: \"localhost:http\": port \"http\" is not a number"],
    [{ ADDR: "localhost:70000" }, "ADDR: \"localhost:70000\": port 70000 is outside 1-65535"],
    [{ ADDR: "bad host:80" }, "ADDR: \"bad host\" is not a valid host name"],
    [{ PEERS: "a:1,b:x" }, "PEERS: entry \"b:x\": port \"x\" is not a number"],
    [{ TTL: "-1" }, "TTL: \"-1\" is not a duration"],
    [{ TTL: "soon" }, "TTL: \"soon\" is not a duration"],
    [{ RPC_TIMEOUT: "0" }, "RPC_TIMEOUT: 0 must be greater than zero"],
    [{ MAX_CLOCK_OFFSET: "0" }, "MAX_CLOCK_OFFSET: 0 must be greater than zero"],
    [{ MAX_RECV_MSG_SIZE: "4 MB" }, "MAX_RECV_MSG_SIZE: \"4 MB\" is not a byte count"],
    [{ MAX_SEND_MSG_SIZE: "0" }, "MAX_SEND_MSG_SIZE: 0 is below the minimum of 1"],
    [{ RATE_LIMIT: "fast" }, "RATE_LIMIT: \"fast\" is not a non-negative number"],
    [{ RATE_LIMIT_BURST: "0" }, "RATE_LIMIT_BURST: 0 is below the minimum of 1"],
    [{ LOG_LEVEL: "loud" }, "LOG_LEVEL: \"loud\" is not one of"],
    [{ LOG_FORMAT: "xml" }, "LOG_FORMAT: \"xml\" is not one of json, pretty, logfmt"],
    [{ NUM_SHARDS: "8", CAPACITY: "4" }, "NUM_SHARDS: 8 shards exceed CAPACITY 4"],
    [{ MAX_VALUE_SIZE: "8MiB" }, "MAX_VALUE_SIZE: 8388608 plus MAX_KEY_SIZE 4096 exceeds MAX_RECV_MSG_SIZE 4194304"],
    [{ MAX_VALUE_SIZE: "4MiB" }, "MAX_VALUE_SIZE: 4194304 plus MAX_KEY_SIZE 4096 exceeds MAX_RECV_MSG_SIZE 4194304"],
    [{ MAX_VALUE_SIZE: "2MiB", MAX_SEND_MSG_SIZE: "1MiB" }, "MAX_VALUE_SIZE: 2097152 plus MAX_KEY_SIZE 4096 exceeds MAX_SEND_MSG_SIZE"],
    [{ MAX_MEMORY: "1MiB", NUM_SHARDS: "4" }, "MAX_MEMORY: 1048576 bytes over 4 shards leaves 262144 per shard"],
    [{ LISTEN_ADDR: "0.0.0.0" }, "LISTEN_ADDR: \"0.0.0.0\" has no port"],
    [{ ADMIN_ADDR: "admin" }, "ADMIN_ADDR: \"admin\" has no port"],
    [{ ADMIN_ADDR: "localhost:8080" }, "ADMIN_ADDR: localhost:8080 is the gRPC listener's address"],
    [{ ADDR: "localhost:65000" }, "ADMIN_ADDR: the default admin port (gRPC port 65000 + 1000) is above 65535; set ADMIN_ADDR"],
    [{ ADMIN_TOKEN: "" }, "ADMIN_TOKEN: is empty; use at least 16 random bytes"],
    [{ ADMIN_TOKEN: "   " }, "ADMIN_TOKEN: is empty"],
    [{ ADMIN_TOKEN: "fifteen-bytes!!" }, "ADMIN_TOKEN: is 15 bytes long; use at least 16 random bytes"],
    [{ ADMIN_TOKEN_FILE: "/nonexistent/admin-token" }, "ADMIN_TOKEN_FILE: cannot read /nonexistent/admin-token: ENOENT"],
    [{ ADMIN_TOKEN: "0123456789abcdef", ADMIN_TOKEN_FILE: "/x" }, "ADMIN_TOKEN_FILE: set ADMIN_TOKEN or ADMIN_TOKEN_FILE, not both"],
    [{ INSECURE_CLUSTER: "maybe" }, "INSECURE_CLUSTER: "]
  ]
  itRejectsEach(bad)
})
