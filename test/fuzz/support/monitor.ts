import { readFileSync } from "node:fs"
import type { NodeProcess } from "../../../testkit/nodeProcess.js"

/** Resident memory of a process, from /proc/<pid>/status (VmRSS); undefined once it is gone. */
export const rssBytes = (pid: number): number | undefined => {
  try {
    const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))
    return match === null ? undefined : Number(match[1]) * 1024
  } catch {
    return undefined
  }
}

/** A node whose resident memory passed the bound: it was killed there, before it could take the machine down. */
export interface Blowup {
  readonly node: number
  readonly rssBytes: number
  readonly at: number
}

/**
 * Samples every node's RSS a few times a second while a batch runs: a
 * request that makes a node allocate gigabytes and then free them (or die)
 * is seen in flight, not only by a check after the batch. A node over the
 * bound is killed with SIGKILL at once.
 */
export class RssMonitor {
  peaks: Array<number> = []
  blowups: Array<Blowup> = []
  private timer: NodeJS.Timeout | undefined

  constructor(private readonly nodes: () => ReadonlyArray<NodeProcess>, readonly boundBytes: number, private readonly intervalMs = 100) {}

  start(): void {
    this.reset()
    this.timer = setInterval(() => this.sample(), this.intervalMs)
  }

  stop(): void {
    clearInterval(this.timer)
  }

  /** Forgets peaks and blowups (after a batch was judged, or a restart). */
  reset(): void {
    this.peaks = this.nodes().map(() => 0)
    this.blowups = []
  }

  sample(): void {
    for (const [i, node] of this.nodes().entries()) {
      const pid = node.child.pid
      if (pid === undefined || node.child.exitCode !== null || node.child.signalCode !== null) continue
      const rss = rssBytes(pid)
      if (rss === undefined) continue
      this.peaks[i] = Math.max(this.peaks[i] ?? 0, rss)
      if (rss > this.boundBytes && !this.blowups.some((b) => b.node === i)) {
        this.blowups.push({ node: i, rssBytes: rss, at: performance.now() })
        node.child.kill("SIGKILL")
      }
    }
  }
}
