import { describe, expect, it } from "@effect/vitest"
import { ago, bytes, fields, table } from "../../src/cli/table.js"

describe("CLI tables", () => {
  it("pads columns to their widest cell, right-aligns numbers and rules the header", () => {
    expect(table(["MEMBER", "STATE", "INCARNATION"], [["10.0.0.1:8080", "alive", 0], ["b", "suspect", 12]])).toBe(
      [
        "MEMBER         STATE    INCARNATION",
        "-------------  -------  -----------",
        "10.0.0.1:8080  alive              0",
        "b              suspect           12"
      ].join("\n")
    )
  })

  it("aligns key/value lines and prints sizes and ages for people", () => {
    expect(fields([["node", "a"], ["uptime", "3s"]])).toBe("node:   a\nuptime: 3s")
    expect([bytes(512), bytes(1536), bytes(256 * 1024 * 1024)]).toEqual(["512 B", "1.5 KiB", "256.0 MiB"])
    expect([ago(950), ago(12_300), ago(245_000), ago(7_800_000)]).toEqual(["950ms", "12.3s", "4m 05s", "2h 10m"])
  })
})
