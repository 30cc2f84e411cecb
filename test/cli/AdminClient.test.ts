import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Option, Redacted } from "effect"
import { describe, expect, it } from "vitest"
import { cliToken } from "../../src/cli/AdminClient.js"

const TOKEN = "cli-token-0123456789abcdef"
const OTHER = "other-token-0123456789abcdef"

const tokenOf = (result: ReturnType<typeof cliToken>) =>
  result.ok ? Option.getOrUndefined(Option.map(result.token, Redacted.value)) : `error: ${result.error}`

describe("AdminClient", () => {
  const dir = mkdtempSync(join(tmpdir(), "cli-token-"))
  const file = join(dir, "token")
  writeFileSync(file, `  ${TOKEN}\n`)
  const otherFile = join(dir, "other")
  writeFileSync(otherFile, OTHER)

  it("sends no token when none is set (an empty ADMIN_TOKEN counts as unset)", () => {
    expect(tokenOf(cliToken(Option.none(), {}))).toBeUndefined()
    expect(tokenOf(cliToken(Option.none(), { ADMIN_TOKEN: "" }))).toBeUndefined()
  })

  it("takes --token-file first, then ADMIN_TOKEN, then the file ADMIN_TOKEN_FILE names, without surrounding whitespace", () => {
    expect(tokenOf(cliToken(Option.some(file), { ADMIN_TOKEN: OTHER, ADMIN_TOKEN_FILE: otherFile }))).toBe(TOKEN)
    expect(tokenOf(cliToken(Option.none(), { ADMIN_TOKEN: `${OTHER}\n`, ADMIN_TOKEN_FILE: file }))).toBe(OTHER)
    expect(tokenOf(cliToken(Option.none(), { ADMIN_TOKEN_FILE: file }))).toBe(TOKEN)
  })

  it("names where a token it cannot use came from, never the token", () => {
    expect(tokenOf(cliToken(Option.some(join(dir, "absent")), {}))).toBe(`error: --token-file: cannot read ${join(dir, "absent")}: ENOENT`)
    expect(tokenOf(cliToken(Option.none(), { ADMIN_TOKEN_FILE: join(dir, "absent") }))).toMatch(/^error: ADMIN_TOKEN_FILE: cannot read/)
    const short = tokenOf(cliToken(Option.none(), { ADMIN_TOKEN: "short-token" }))
    expect(short).toBe("error: ADMIN_TOKEN: is 11 bytes long; use at least 16 random bytes (openssl rand -hex 32)")
  })
})
