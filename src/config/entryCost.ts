/**
 * Bytes charged per entry on top of its key and value: the entry object and
 * its boxed numbers, its Map slot, the string headers. Measured with
 * `pnpm bench:store` (heap per entry at 1M entries, minus key and value
 * bytes: 188 with the recency links), so that MAX_MEMORY tracks the real heap. Here, below the
 * store, because the settings check MAX_MEMORY against one largest entry.
 */
export const ENTRY_OVERHEAD_BYTES = 184
