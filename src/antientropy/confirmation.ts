/**
 * Whether a replica's answer to a tombstone sent again for collection shows
 * that it holds the deletion: it applied it (or already had it), or it
 * refused it as stale because it holds something newer or has a floor at or
 * above it. Anything else (no answer, another epoch, not a replica) says
 * nothing, and the tombstone waits. Shared by the collector and the
 * simulator.
 */
export const confirmsTombstone = (reply: { readonly _tag: string }): boolean => reply._tag === "Applied" || reply._tag === "Stale"
