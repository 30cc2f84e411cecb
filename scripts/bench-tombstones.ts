/**
 * What tombstones cost: one node (CAPACITY=1000000, so only MAX_MEMORY
 * bounds them) takes DELETES Deletes of absent 4 KB keys; prints how many
 * tombstones it kept, the bytes the store charged for them, and the heap
 * and RSS before and after (admin Stats).
 *
 *   pnpm bench:tombstones [DELETES]   (default 100000)
 */
import { adminCall } from "../testkit/admin.js"
import { connect } from "../testkit/clients.js"
import { startNode } from "../testkit/nodeProcess.js"
const deletes = Number(process.argv[2] ?? 100_000)
const node = await startNode("127.0.0.171", { RATE_LIMIT: "0", CAPACITY: "1000000" })
const admin = await node.adminAddress()
const stats = () => adminCall(admin, (c) => c.Stats())
const client = connect(node.address)
const before = await stats()
const key = "k".repeat(4000)
let next = 0
await Promise.all(Array.from({ length: 64 }, async () => {
  for (let i = next++; i < deletes; i = next++) await client.cache.delete({ key: `${key}-${i}` })
}))
const after = await stats()
console.log(JSON.stringify({
  tombstones: after.tombstones, storeBytes: after.bytes,
  heapUsedMiB: [before.heapUsedBytes, after.heapUsedBytes].map((b) => Math.round(b / 1048576)),
  rssMiB: [before.residentBytes, after.residentBytes].map((b) => Math.round(b / 1048576))
}))
client.close()
await node.stop("SIGKILL")
