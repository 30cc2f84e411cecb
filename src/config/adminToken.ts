/**
 * The admin API's bearer token (`ADMIN_TOKEN`, `ADMIN_TOKEN_FILE`). Plain
 * functions: NodeConfig reads the variables, the CLI reads the same ones the
 * same way.
 */
import { readFileSync } from "node:fs"

/** The shortest admin token accepted, in bytes: a short one can be guessed. */
export const MIN_ADMIN_TOKEN_BYTES = 16

/** A token as written in `ADMIN_TOKEN` or its file: surrounding whitespace (a file's final newline) is not part of it. */
export const tokenText = (raw: string): string => raw.trim()

/** Why a token is refused, or undefined when it is long enough. Never repeats the token. */
export const tokenProblem = (token: string): string | undefined => {
  const bytes = Buffer.byteLength(token, "utf8")
  const advice = `use at least ${MIN_ADMIN_TOKEN_BYTES} random bytes (openssl rand -hex 32)`
  if (bytes === 0) return `is empty; ${advice}`
  return bytes < MIN_ADMIN_TOKEN_BYTES ? `is ${bytes} bytes long; ${advice}` : undefined
}

/** A token file's contents, or why it cannot be read (naming the file, never the contents). */
export const readTokenFile = (path: string): { readonly ok: true; readonly token: string } | { readonly ok: false; readonly error: string } => {
  try {
    return { ok: true, token: tokenText(readFileSync(path, "utf8")) }
  } catch (error) {
    const code = typeof error === "object" && error !== null && "code" in error ? String(error.code) : String(error)
    return { ok: false, error: `cannot read ${path}: ${code}` }
  }
}

/** Where the admin token came from: the token (none when neither variable is set), or the variable to fix and why. */
export type TokenSource =
  | { readonly ok: true; readonly token: string | undefined }
  | { readonly ok: false; readonly variable: "ADMIN_TOKEN" | "ADMIN_TOKEN_FILE"; readonly error: string }

/**
 * The token from `ADMIN_TOKEN` or the file `ADMIN_TOKEN_FILE` names (a
 * Kubernetes Secret mount); none when neither is set. Both at once, an
 * unreadable file or a token under MIN_ADMIN_TOKEN_BYTES are refused, naming
 * the variable to fix.
 */
export const resolveAdminToken = (token: string | undefined, file: string | undefined): TokenSource => {
  if (token !== undefined && file !== undefined) return { ok: false, variable: "ADMIN_TOKEN_FILE", error: "set ADMIN_TOKEN or ADMIN_TOKEN_FILE, not both" }
  if (token !== undefined) {
    const problem = tokenProblem(tokenText(token))
    return problem === undefined ? { ok: true, token: tokenText(token) } : { ok: false, variable: "ADMIN_TOKEN", error: problem }
  }
  if (file === undefined) return { ok: true, token: undefined }
  const read = readTokenFile(file)
  if (!read.ok) return { ok: false, variable: "ADMIN_TOKEN_FILE", error: read.error }
  const problem = tokenProblem(read.token)
  return problem === undefined ? read : { ok: false, variable: "ADMIN_TOKEN_FILE", error: `the token in ${file} ${problem}` }
}
