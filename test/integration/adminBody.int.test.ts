import { readFileSync } from "node:fs"
import { request } from "node:http"
import { afterEach, describe, expect, it } from "vitest"
import { parseHostPort } from "../../src/config/parse.js"
import { adminCall, adminGet } from "../support/admin.js"
import { type NodeProcess, startNode } from "../support/nodeProcess.js"

const HOST = "127.0.0.143"
const MiB = 1024 * 1024

const running: Array<NodeProcess> = []
afterEach(async () => {
  await Promise.all(running.splice(0).map((n) => n.stop("SIGKILL")))
})

/** Resident and peak resident memory of a process, from /proc (bytes). */
const memoryOf = (pid: number) => {
  const status = readFileSync(`/proc/${pid}/status`, "utf8")
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB$`, "m").exec(status)?.[1] ?? Number.NaN) * 1024
  return { rss: kib("VmRSS"), peak: kib("VmHWM") }
}

interface Sent {
  readonly status: number
  readonly body: string
  readonly connection: string | undefined
  /** Bytes of the body written to the socket before the answer came (or the server closed it). */
  readonly sentBytes: number
}

/**
 * POSTs up to `totalBytes` to the admin server in 64 KiB writes, chunked
 * unless `declaredBytes` is given as its Content-Length, and stops writing
 * once an answer arrives or the server closes the connection.
 */
const post = (admin: string, path: string, totalBytes: number, declaredBytes?: number) =>
  new Promise<Sent>((resolve, reject) => {
    const address = parseHostPort(admin)
    if (!address.ok) throw new Error(address.error)
    const headers: Record<string, string> = { "content-type": "application/json" }
    if (declaredBytes !== undefined) headers["content-length"] = String(declaredBytes)
    const call = request({ host: address.value.host, port: address.value.port, path, method: "POST", headers })
    const chunk = Buffer.alloc(64 * 1024, " ")
    let sentBytes = 0
    let answered = false
    call.on("response", (response) => {
      answered = true
      const parts: Array<Buffer> = []
      response.on("data", (part: Buffer) => parts.push(part))
      response.on("end", () => {
        resolve({ status: response.statusCode ?? 0, body: Buffer.concat(parts).toString(), connection: response.headers.connection, sentBytes })
        call.destroy()
      })
    })
    // Writes fail once the server closes the connection after its answer.
    call.on("error", (error) => answered || reject(error))
    const pump = () => {
      while (!answered && !call.destroyed && sentBytes < totalBytes) {
        sentBytes += chunk.length
        if (!call.write(chunk)) return void call.once("drain", pump)
      }
      if (!answered && !call.destroyed) call.end()
    }
    pump()
  })

describe("the admin server's body limit", () => {
  it("answers 413 to a 300 MB chunked POST after reading about 1 MiB of it; memory stays flat and the node answers on", async () => {
    const node = await startNode(HOST)
    running.push(node)
    const admin = await node.adminAddress()
    const pid = node.child.pid!
    // Warm up the admin path, then take the baseline.
    expect(await adminCall(admin, (c) => c.Stats())).toMatchObject({ shards: 1 })
    const before = memoryOf(pid)

    const sent = await post(admin, "/rpc", 300 * MiB)
    expect(sent).toMatchObject({ status: 413, body: "request body over 1048576 bytes\n", connection: "close" })
    // The node stopped reading: the client could only fill the socket buffers past the limit.
    expect(sent.sentBytes).toBeLessThan(32 * MiB)
    const after = memoryOf(pid)
    expect(after.peak - before.peak, `peak RSS ${before.peak} -> ${after.peak}`).toBeLessThan(16 * MiB)
    expect(after.rss - before.rss, `RSS ${before.rss} -> ${after.rss}`).toBeLessThan(16 * MiB)

    expect(await adminCall(admin, (c) => c.Status())).toMatchObject({ address: node.address, ready: true })
    expect((await adminGet(admin, "/healthz")).status).toBe(200)
  })

  it("answers 413 to a declared Content-Length over 1 MiB before reading, and takes a body within it, chunked or not", async () => {
    const node = await startNode(HOST)
    running.push(node)
    const admin = await node.adminAddress()
    const declared = await post(admin, "/rpc", 300 * MiB, 300 * MiB)
    expect(declared).toMatchObject({ status: 413, connection: "close" })
    expect(declared.sentBytes).toBeLessThan(32 * MiB)
    expect((await post(admin, "/rpc", 2 * MiB, MiB + 1)).status).toBe(413)

    // At the limit exactly, a body is read whole (here: whitespace, not a request the API understands).
    const atLimit = await post(admin, "/rpc", MiB, MiB)
    expect(atLimit.status).toBe(200)
    const chunkedAtLimit = await post(admin, "/rpc", MiB)
    expect(chunkedAtLimit.status).toBe(200)

    // A real request sent chunked reaches the API as it would with a length.
    const stats = JSON.stringify({ _tag: "Request", id: "1", tag: "Stats", payload: {}, headers: [] })
    const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const address = parseHostPort(admin)
      if (!address.ok) throw new Error(address.error)
      const call = request({ host: address.value.host, port: address.value.port, path: "/rpc", method: "POST", headers: { "content-type": "application/json" } })
      call.on("response", (response) => {
        let body = ""
        response.setEncoding("utf8").on("data", (part: string) => (body += part)).on("end", () => resolve({ status: response.statusCode ?? 0, body }))
      })
      call.on("error", reject)
      call.write(stats.slice(0, 10))
      call.end(stats.slice(10))
    })
    expect(answer.status).toBe(200)
    expect(JSON.parse(answer.body)).toMatchObject([{ _tag: "Exit", requestId: "1", exit: { _tag: "Success", value: { shards: 1 } } }])
  })
})
