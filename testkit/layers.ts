import { Layer } from "effect"
import { Membership } from "../src/membership/Membership.js"
import { MemoryNetwork } from "../src/peer/PeerMemory.js"
import { Ring } from "../src/placement/Ring.js"
import { makeCore } from "../src/Layers.js"
import { Telemetry } from "../src/telemetry/Telemetry.js"

/** A one-node cluster view: a node without seeds, whose ring of itself is agreed at once. */
export const SoloCluster = Ring.Default.pipe(
  Layer.provideMerge(Membership.Default),
  Layer.provideMerge(new MemoryNetwork().layer("solo"))
)

/** The core of a solo node, untraced; needs a NodeConfig. */
export const SoloCore = makeCore(SoloCluster).pipe(Layer.provide(Telemetry.layerOff))
