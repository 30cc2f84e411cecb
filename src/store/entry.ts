import * as V from "../clock/version.js"
import type { Version } from "../clock/version.js"

/**
 * A stored value: text stays a JS string (one byte per Latin-1 character on
 * the V8 heap, no encode/decode on the hot path), binary stays bytes.
 */
export type Value = string | Uint8Array

export const valueBytes = (value: Value): number =>
  typeof value === "string" ? Buffer.byteLength(value, "utf8") : value.byteLength

export const keyBytes = (key: string): number => Buffer.byteLength(key, "utf8")

/**
 * What a shard holds for a key, linked into the shard's recency list
 * (oldest first). A hit relinks its record: re-inserting the key in the
 * shard's Map instead would leave a deleted slot in the key's hash chain
 * until the next rehash, so a hot key's lookups would walk thousands of them.
 */
abstract class Held {
  /** The neighbours in the shard's recency list (undefined at the ends); only `LruShard` sets them. */
  older: Entry | Tombstone | undefined = undefined
  newer: Entry | Tombstone | undefined = undefined
  constructor(readonly key: string) {}
}

/**
 * A live entry. The version is stored flat (hlc, nodeId, generation) so an
 * entry is one object; it is itself a `Version` for comparisons.
 */
export class Entry extends Held implements Version {
  constructor(
    key: string,
    public value: Value,
    public hlc: number,
    public nodeId: number,
    public generation: number,
    /** Wall-clock ms at which the entry expires; 0 = never. */
    public expiresAtMs: number,
    /** Bytes charged to the shard's budget. */
    public chargedBytes: number
  ) {
    super(key)
  }
}

/**
 * What a deletion leaves behind, so an older write cannot bring the key
 * back. It takes room like an entry (key bytes and the same overhead) and
 * is collected only once every replica of its key holds it.
 */
export class Tombstone extends Held implements Version {
  constructor(
    key: string,
    public hlc: number,
    public nodeId: number,
    public generation: number,
    /** Wall-clock ms at which this node applied it (TOMBSTONE_GRACE counts from here). */
    public appliedAtMs: number,
    /** Bytes charged to the shard's budget. */
    public chargedBytes: number
  ) {
    super(key)
  }
}

/** A write as a replica receives it: a value or a deletion, at a version. */
export interface Write {
  readonly version: Version
  /** undefined for a deletion. */
  readonly value: Value | undefined
  /** Wall-clock ms at which the value expires; 0 = never. Ignored for deletions. */
  readonly expiresAtMs: number
}

/** A replica's answer to a write. */
export type ApplyResult =
  | { readonly _tag: "Applied"; readonly existed: boolean }
  | { readonly _tag: "Stale"; readonly current: Version }

/** A stored record as the write that recreates it elsewhere (hand-off, pulls, anti-entropy, tombstone confirmation). */
export const toWrite = (record: Entry | Tombstone): Write =>
  record instanceof Entry
    ? { version: V.copy(record), value: record.value, expiresAtMs: record.expiresAtMs }
    : { version: V.copy(record), value: undefined, expiresAtMs: 0 }
