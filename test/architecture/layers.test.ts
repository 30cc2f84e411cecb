import { readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { importsUnder, LAYERS, layersDot, transitiveReduction, upwardImports } from "../../testkit/architecture.js"
import { repoRoot } from "../../testkit/nodeProcess.js"

const srcImports = importsUnder(repoRoot, "src")

describe("layers of src/", () => {
  it("gives every folder of src/ a place in the order", () => {
    const folders = readdirSync(join(repoRoot, "src"), { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name)
    expect(folders.sort()).toEqual(LAYERS.map(([folder]) => folder).filter((f) => f !== ".").sort())
  })

  it("has no import that runs upwards or sideways", () => {
    expect(srcImports.length).toBeGreaterThan(100)
    expect(upwardImports(srcImports)).toEqual([])
  })

  it("flags an import from a lower folder to a higher one, a sideways one, and one into an unplaced folder", () => {
    const found = upwardImports([
      { from: "src/store/Lru.ts", to: "src/clock/version.ts" }, // down: fine
      { from: "src/store/Lru.ts", to: "src/store/entry.ts" }, // same folder: fine
      { from: "src/config/NodeConfig.ts", to: "src/store/entry.ts" }, // up
      { from: "src/logging/Logging.ts", to: "src/telemetry/Metrics.ts" }, // down: telemetry is below logging
      { from: "src/telemetry/Metrics.ts", to: "src/logging/Logging.ts" }, // up
      { from: "src/peer/PeerPool.ts", to: "src/misc/x.ts" }, // unplaced
      { from: "src/main.ts", to: "src/grpc/GrpcServer.ts" } // the wiring is on top
    ])
    expect(found.map(({ from }) => from)).toEqual(["src/config/NodeConfig.ts", "src/telemetry/Metrics.ts", "src/peer/PeerPool.ts"])
  })

  it("keeps src/ self-contained, and test code out of scripts and the testkit", () => {
    expect(srcImports.filter(({ to }) => !to.startsWith("src/"))).toEqual([])
    for (const folder of ["scripts", "testkit"]) {
      expect(importsUnder(repoRoot, folder).filter(({ to }) => to.startsWith("test/"))).toEqual([])
    }
  })

  it("draws only the arrows no chain of others implies", () => {
    expect(transitiveReduction(["api store", "api replication", "replication store", "replication clock", "store clock"]).sort())
      .toEqual(["api replication", "replication store", "store clock"])
  })

  it("is drawn from today's imports (redraw with pnpm architecture)", () => {
    expect(readFileSync(join(repoRoot, "docs/architecture.dot"), "utf8")).toBe(layersDot(srcImports))
  })
})
