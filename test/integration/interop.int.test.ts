import { execFile } from "node:child_process"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { promisify } from "node:util"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { descriptorSetBase64 } from "../../src/generated/descriptorSet.js"
import { connect } from "../../testkit/clients.js"
import { type NodeProcess, repoRoot, startNode } from "../../testkit/nodeProcess.js"

// Debian's interpreter, where python3-grpcio and python3-protobuf are installed (.ci/run installs them).
const PYTHON = "/usr/bin/python3"

describe("interoperability with gRPC's C core (python3-grpcio)", () => {
  let node: NodeProcess
  let dir: string

  beforeAll(async () => {
    node = await startNode("127.0.0.14")
    dir = mkdtempSync(join(tmpdir(), "interop-"))
  })
  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true })
    await node?.stop()
  })

  it("sets, gets and deletes through the node, and reads what a Node client wrote", async () => {
    const descriptorSet = join(dir, "descriptor.binpb")
    writeFileSync(descriptorSet, Buffer.from(descriptorSetBase64, "base64"))
    const { stdout } = await promisify(execFile)(
      PYTHON,
      [join(repoRoot, "test/integration/python/cache_client.py"), node.address, descriptorSet, "py-key"],
      { timeout: 30_000 }
    )
    const seen = JSON.parse(stdout) as Record<string, unknown>
    expect(seen).toEqual({
      setVersion: expect.any(Number),
      value: "from python ✓",
      getVersion: seen["setVersion"],
      bytes: [0, 159, 255],
      existed: true,
      afterDelete: "NOT_FOUND",
      emptyKey: "INVALID_ARGUMENT: key must not be empty",
      reflectionV1: [true, true],
      reflectionV1alpha: [true, true]
    })
    const client = connect(node.address)
    try {
      const bin = await client.cache.get({ key: "py-key-bin" })
      expect([...bin.valueBytes!]).toEqual([0, 159, 255])
    } finally {
      client.close()
    }
  })
})
