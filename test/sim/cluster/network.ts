import type { Agenda } from "./events.js"

/** The faults of the simulated network, all drawn from the run's seed (TigerBeetle's packet simulator, in small). */
export interface NetworkOptions {
  /** Chance that one message (a request or an answer) is lost. */
  readonly lossRate: number
  /** Chance that a request is delivered twice. */
  readonly duplicateRate: number
  readonly minDelayMs: number
  /** Delays are uniform in [min, max], so messages overtake each other (reordering). */
  readonly maxDelayMs: number
  /** How long a caller waits for an answer before it takes the call as failed. */
  readonly timeoutMs: number
}

/** A host as the network sees it: whether it answers, and what it does with a request. */
export interface Host {
  /** Down: messages to it vanish. */
  up: boolean
  /** Paused: requests wait until it resumes (then are answered late). */
  paused: boolean
  readonly inbox: Array<() => void>
}

/**
 * Request/answer delivery between simulated hosts, with loss, duplication,
 * delay (hence reordering), partitions and timeouts. Each call's `onReply`
 * runs exactly once: with the first answer, or with undefined at its timeout.
 */
export class SimNetwork {
  /** Hosts by address; a restart replaces the host object, so in-flight answers to the old one are dropped. */
  readonly hosts = new Map<string, Host>()
  /** Partition groups: hosts in different groups cannot reach each other; absent hosts reach everyone. */
  private groups = new Map<string, number>()
  messages = 0

  constructor(private readonly agenda: Agenda, private readonly random: () => number, readonly options: NetworkOptions) {}

  partition(groups: ReadonlyArray<ReadonlyArray<string>>): void {
    this.groups = new Map(groups.flatMap((group, i) => group.map((address) => [address, i] as const)))
  }

  heal(): void {
    this.groups = new Map()
  }

  canReach(from: string, to: string): boolean {
    const a = this.groups.get(from)
    const b = this.groups.get(to)
    return a === undefined || b === undefined || a === b
  }

  private delay(): number {
    const { minDelayMs, maxDelayMs } = this.options
    return minDelayMs + this.random() * (maxDelayMs - minDelayMs)
  }

  private lost(from: string, to: string): boolean {
    return !this.canReach(from, to) || this.random() < this.options.lossRate
  }

  /** Sends `serve` to `to` (which computes the answer there) and hands the answer to `onReply` back at `from`. */
  call<A>(from: string, to: string, serve: () => A | undefined, onReply: (answer: A | undefined) => void): void {
    const caller = this.hosts.get(from)
    let done = false
    const finish = (answer: A | undefined) => {
      if (done || this.hosts.get(from) !== caller || caller === undefined || !caller.up) return
      done = true
      if (caller.paused) caller.inbox.push(() => onReply(answer))
      else onReply(answer)
    }
    this.agenda.after(this.options.timeoutMs, () => finish(undefined))
    const deliveries = this.random() < this.options.duplicateRate ? 2 : 1
    for (let d = 0; d < deliveries; d++) {
      this.messages++
      if (this.lost(from, to)) continue
      this.agenda.after(this.delay(), () => {
        const host = this.hosts.get(to)
        if (host === undefined || !host.up) return
        const answer = () => {
          const result = serve()
          if (result === undefined || this.lost(to, from)) return
          this.messages++
          this.agenda.after(this.delay(), () => finish(result))
        }
        if (host.paused) host.inbox.push(answer)
        else answer()
      })
    }
  }
}
