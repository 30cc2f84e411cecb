import { Layer } from "effect"
import { Membership } from "../../src/membership/Membership.js"
import { MemoryNetwork } from "../../src/peer/PeerMemory.js"
import { makeCore } from "../../src/Layers.js"
import { Ring } from "../../src/ring/Ring.js"
import { Telemetry } from "../../src/telemetry/Telemetry.js"

/** A one-node cluster view without SWIM timers: the core as a solo node runs it. */
export const SoloCluster = Ring.Default.pipe(
  Layer.provideMerge(Membership.layerSolo),
  Layer.provideMerge(new MemoryNetwork().layer("solo"))
)

/** The core of a solo node, untraced; needs a NodeConfig. */
export const SoloCore = makeCore(SoloCluster).pipe(Layer.provide(Telemetry.layerOff))
