/**
 * How many of a key's replicas must answer. `QUORUM` (the default) is
 * linearizable; `ONE` trades that for latency; `ALL` waits for every replica.
 */
export type Consistency = "ONE" | "QUORUM" | "ALL"

/** The smallest majority of `n`: any two such sets out of `n` intersect. */
export const majority = (n: number): number => Math.floor(n / 2) + 1

/** Answers needed out of `replicas` for a request at `level`. */
export const required = (level: Consistency, replicas: number): number =>
  level === "ONE" ? Math.min(1, replicas) : level === "ALL" ? replicas : majority(replicas)
