import xxhash from "xxhash-wasm"

/** A 32-bit hash of a string: xxHash32 over its UTF-8 bytes. */
export type Hash32 = (text: string) => number

/** Loads xxHash (WebAssembly, instantiated once) for ring tokens and key placement. */
export const loadXxHash32 = async (): Promise<Hash32> => {
  const { h32 } = await xxhash()
  return (text) => h32(text) >>> 0
}
