/**
 * The failure detector's view, by address (of the identity the agreed ring
 * names there): what ring agreement asks of membership.
 */
export interface Liveness {
  /** Alive or suspect: it may still answer. */
  readonly reachable: (address: string) => boolean
  /** How long it has been dead (or gone); undefined while it is not. */
  readonly deadForMs: (address: string) => number | undefined
}
