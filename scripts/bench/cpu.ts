import { readFileSync } from "node:fs"

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ; 100 on Linux). */
const TICKS_PER_SECOND = 100

/** CPU seconds (user + system) a process has used so far; undefined once it is gone. */
export const cpuSeconds = (pid: number): number | undefined => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8")
    // Fields after the command name (which may contain spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND
  } catch {
    return undefined
  }
}

/** A labelled process whose CPU use a measurement reports. */
export interface Watched {
  readonly label: string
  readonly pid: number
}

/** CPU use of each watched process over a window, in cores (1 = one core busy all the time). */
export interface CpuShare {
  readonly label: string
  readonly cores: number
}

/** Starts a window: call the result at its end for each process's share of a core meanwhile. */
export const cpuWindow = (watched: ReadonlyArray<Watched>) => {
  const started = performance.now()
  const before = watched.map((w) => cpuSeconds(w.pid))
  return (): Array<CpuShare> => {
    const seconds = (performance.now() - started) / 1000
    return watched.map((w, i) => {
      const after = cpuSeconds(w.pid)
      const used = after === undefined || before[i] === undefined ? NaN : after - before[i]!
      return { label: w.label, cores: Math.round((used / seconds) * 100) / 100 }
    })
  }
}
