import { NodeContext, NodeRuntime } from "@effect/platform-node"
import { Effect } from "effect"
import { cli } from "./commands.js"

NodeRuntime.runMain(cli(process.argv).pipe(Effect.provide(NodeContext.layer)), { disableErrorReporting: false })
