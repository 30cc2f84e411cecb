/**
 * `pnpm architecture`: redraws docs/architecture.svg (and the .dot it is
 * made from) from the imports under src/, with Graphviz compiled to WASM.
 */
import { Graphviz } from "@hpcc-js/wasm-graphviz"
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import { importsUnder, layersDot } from "../testkit/architecture.js"
import { repoRoot } from "../testkit/nodeProcess.js"

const dot = layersDot(importsUnder(repoRoot, "src"))
const graphviz = await Graphviz.load()
writeFileSync(join(repoRoot, "docs/architecture.dot"), dot)
writeFileSync(join(repoRoot, "docs/architecture.svg"), graphviz.dot(dot))
console.log("wrote docs/architecture.dot and docs/architecture.svg")
