import { describe, expect, it } from "vitest"
import { isLoopbackHost } from "../../src/config/adminToken.js"

describe("adminToken", () => {
  const hosts: ReadonlyArray<readonly [string, boolean]> = [
    ["127.0.0.1", true],
    ["127.255.0.9", true],
    ["localhost", true],
    ["LOCALHOST", true],
    ["::1", true],
    ["0:0:0:0:0:0:0:1", true],
    ["::ffff:127.0.0.1", true],
    ["0.0.0.0", false],
    ["::", false],
    ["10.0.0.1", false],
    ["128.0.0.1", false],
    ["::ffff:10.0.0.1", false],
    ["localhost.example.com", false],
    ["cache1", false]
  ]
  for (const [host, loopback] of hosts) {
    it(`counts ${host} as ${loopback ? "loopback" : "reachable from other machines"}`, () => {
      expect(isLoopbackHost(host)).toBe(loopback)
    })
  }
})
