/**
 * How long a member stays suspect before it is declared dead:
 * multiplier * max(1, log10(n)) * probeIntervalMs (memberlist's formula).
 * It grows with the cluster because a refutation needs longer to spread
 * through more nodes. Rounded to whole milliseconds for timers.
 */
export const suspicionTimeoutMs = (probeIntervalMs: number, multiplier: number, clusterSize: number): number =>
  Math.round(multiplier * Math.max(1, Math.log10(Math.max(1, clusterSize))) * probeIntervalMs)
