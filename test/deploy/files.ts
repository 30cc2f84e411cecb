/**
 * Reading the repository's deployment files, and typed access to what YAML
 * parses to: the shape is never trusted, each accessor asserts it, so a file
 * of the wrong shape fails the check that reads it rather than a cast.
 */
import { readFileSync } from "node:fs"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { expect } from "vitest"
import { parse } from "yaml"

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), "..", "..")
export const read = (path: string): string => readFileSync(join(repoRoot, path), "utf8")

export const loadYaml = (path: string): unknown => parse(read(path), { merge: true })

// ---- reading parsed YAML without trusting its shape ---------------------------

export type Mapping = Record<string, unknown>

export const isMapping = (value: unknown): value is Mapping =>
  typeof value === "object" && value !== null && !Array.isArray(value)

export const mapping = (value: unknown, what: string): Mapping => {
  expect(isMapping(value), `${what} is a mapping`).toBe(true)
  return value as Mapping
}

export const list = (value: unknown, what: string): ReadonlyArray<unknown> => {
  expect(Array.isArray(value), `${what} is a list`).toBe(true)
  return value as ReadonlyArray<unknown>
}

export const text = (value: unknown, what: string): string => {
  expect(typeof value, `${what} is a string`).toBe("string")
  return value as string
}

/** A copy for the "catches broken files" cases to damage. */
export const clone = <A>(value: A): A => structuredClone(value)
