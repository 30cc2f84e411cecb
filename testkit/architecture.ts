/**
 * The layers of `src/`, bottom to top, and the import graph they must
 * respect: a folder imports only from folders below it. The architecture
 * test checks it; `pnpm architecture` draws it (docs/architecture.svg).
 */
import { readdirSync, readFileSync, statSync } from "node:fs"
import { dirname, join, relative, resolve, sep } from "node:path"
import ts from "typescript"

/** Each folder of `src/`, lowest first, with what it is for. "." is the wiring: main.ts and Layers.ts. */
export const LAYERS: ReadonlyArray<readonly [folder: string, purpose: string]> = [
  ["generated", "protobuf types made from proto/ (pnpm gen)"],
  ["util", "small helpers: hashing, work in slices"],
  ["config", "settings from the environment, checked at start-up"],
  ["telemetry", "metrics and traces"],
  ["logging", "structured JSON logs"],
  ["security", "TLS material and certificates"],
  ["ratelimit", "token buckets"],
  ["clock", "hybrid logical clock, versions"],
  ["store", "sharded LRU store, TTL, tombstones"],
  ["ring", "consistent-hash ring (pure)"],
  ["protocol", "messages shared between layers, input bounds"],
  ["peer", "calls to other nodes: gRPC or in memory"],
  ["membership", "SWIM failure detection and gossip"],
  ["placement", "the agreed ring: epochs, readiness, removal"],
  ["replication", "quorum reads and writes"],
  ["movement", "pulls for a new ring, release of old ranges"],
  ["antientropy", "Merkle repair, tombstone collection"],
  ["api", "the cache API"],
  ["grpc", "gRPC server and handlers"],
  ["admin", "admin HTTP API"],
  ["cli", "command-line tool"],
  [".", "wiring: main.ts, Layers.ts"]
]

export interface Import {
  readonly from: string
  readonly to: string
}

const sourceFiles = (dir: string): Array<string> =>
  readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) return sourceFiles(path)
    return name.endsWith(".ts") ? [path] : []
  })

/** Every relative import of every file under `root`, as paths relative to `repo` ("src/store/Lru.ts"). */
export const importsUnder = (repo: string, root: string): Array<Import> =>
  sourceFiles(join(repo, root)).flatMap((file) => {
    const { importedFiles } = ts.preProcessFile(readFileSync(file, "utf8"), true, true)
    return importedFiles
      .filter(({ fileName }) => fileName.startsWith("."))
      .map(({ fileName }) => ({
        from: relative(repo, file),
        to: relative(repo, resolve(dirname(file), fileName)).replace(/\.js$/, ".ts")
      }))
  })

/** The folder of `src/` a path is in: "store" for "src/store/Lru.ts", "." for "src/main.ts"; undefined outside `src/`. */
export const folderOf = (path: string): string | undefined => {
  const parts = path.split(sep)
  if (parts[0] !== "src") return undefined
  return parts.length > 2 ? parts[1] : "."
}

const rank = new Map(LAYERS.map(([folder], index) => [folder, index]))

/** The imports between folders of `src/` that do not go strictly downwards, or name a folder with no place in LAYERS. */
export const upwardImports = (imports: ReadonlyArray<Import>): Array<Import> =>
  imports.filter(({ from, to }) => {
    const [a, b] = [folderOf(from), folderOf(to)]
    if (a === undefined || b === undefined || a === b) return false
    const [ra, rb] = [rank.get(a), rank.get(b)]
    return ra === undefined || rb === undefined || rb >= ra
  })

/** Imports between folders of `src/`, counted per pair of folders. */
export const folderEdges = (imports: ReadonlyArray<Import>): Map<string, number> => {
  const edges = new Map<string, number>()
  for (const { from, to } of imports) {
    const [a, b] = [folderOf(from), folderOf(to)]
    if (a === undefined || b === undefined || a === b) continue
    edges.set(`${a} ${b}`, (edges.get(`${a} ${b}`) ?? 0) + 1)
  }
  return edges
}

/**
 * The pairs of `edges` ("a b") that no longer path implies: the picture
 * keeps an arrow only where it says something the other arrows do not.
 */
export const transitiveReduction = (edges: Iterable<string>): Array<string> => {
  const pairs = [...edges].map((pair) => pair.split(" ") as [string, string])
  const next = new Map<string, Array<string>>()
  for (const [a, b] of pairs) next.set(a, [...(next.get(a) ?? []), b])
  const reachesAvoiding = (from: string, to: string, skip: string): boolean => {
    const seen = new Set<string>()
    const stack = (next.get(from) ?? []).filter((n) => n !== skip)
    while (stack.length > 0) {
      const node = stack.pop()!
      if (node === to) return true
      if (seen.has(node)) continue
      seen.add(node)
      stack.push(...(next.get(node) ?? []))
    }
    return false
  }
  return pairs.filter(([a, b]) => !reachesAvoiding(a, b, b)).map(([a, b]) => `${a} ${b}`)
}

/**
 * The layers as Graphviz DOT: one box per folder, lowest at the bottom, and
 * an arrow for each import between folders that no longer chain of imports
 * implies (the transitive reduction: every arrow drawn points down).
 */
export const layersDot = (imports: ReadonlyArray<Import>): string => {
  const name = (folder: string) => (folder === "." ? "wiring" : folder)
  const nodes = LAYERS.map(([folder, purpose]) => `  "${name(folder)}" [label="${name(folder)}\\n${purpose}"];`)
  const edges = transitiveReduction(folderEdges(imports).keys()).sort().map((pair) => {
    const [a, b] = pair.split(" ") as [string, string]
    return `  "${name(a)}" -> "${name(b)}";`
  })
  return [
    "// Generated by `pnpm architecture` from the imports under src/; do not edit.",
    "digraph layers {",
    "  rankdir=TB; nodesep=0.3; ranksep=0.3;",
    "  node [shape=box, style=rounded, fontname=\"Helvetica\", fontsize=10];",
    "  edge [color=\"#667788\", arrowsize=0.6];",
    ...nodes,
    ...edges,
    "}",
    ""
  ].join("\n")
}
