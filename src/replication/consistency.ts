/**
 * How many of a key's replicas must answer. `QUORUM` (the default) is
 * linearizable; `ONE` trades that for latency; `ALL` waits for every replica.
 */
export type Consistency = "ONE" | "QUORUM" | "ALL"

/** Answers needed out of `replicas` for a request at `level`. */
export const required = (level: Consistency, replicas: number): number =>
  level === "ONE" ? Math.min(1, replicas) : level === "ALL" ? replicas : Math.floor(replicas / 2) + 1
