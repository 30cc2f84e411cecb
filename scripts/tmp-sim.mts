import { Duration, Effect } from "effect"
import { MemoryNetwork } from "../src/peer/PeerMemory.js"
import { simNode } from "../test/support/sim.js"
const prog = Effect.gen(function*() {
  const network = new MemoryNetwork(Duration.seconds(1))
  network.faults.delay = Duration.millis(10)
  console.log("a")
  const a = yield* simNode(network, "10.0.0.1:8080", [])
  console.log("b")
  const b = yield* simNode(network, "10.0.0.2:8080", ["10.0.0.1:8080"])
  console.log("c")
  yield* Effect.sleep("2 seconds")
  console.log(a.ring.current().size, b.ring.current().size)
})
setTimeout(() => { console.log("timeout"); process.exit(1) }, 8000).unref()
await Effect.runPromise(Effect.scoped(prog))
process.exit(0)
