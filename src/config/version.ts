import { readFileSync } from "node:fs"

/**
 * This build's version, from package.json. Read at run time: the file sits
 * two levels above this module both in src/ (tsx) and in dist/ (built).
 */
export const PACKAGE_VERSION: string = (() => {
  try {
    const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version?: unknown }
    return typeof pkg.version === "string" ? pkg.version : "unknown"
  } catch {
    return "unknown"
  }
})()
