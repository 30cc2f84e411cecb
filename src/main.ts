import { NodeRuntime } from "@effect/platform-node"
import { program } from "./Layers.js"

NodeRuntime.runMain(program, { disableErrorReporting: true, disablePrettyLogger: true })
