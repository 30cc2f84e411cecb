// Preloaded into a node by `pnpm bench:profile` (`NODE_OPTIONS=--import=<this file>`; --cpu-prof may not go in
// NODE_OPTIONS). Each SIGUSR2 starts or stops the inspector's profiler: the bench sends one as each measured
// phase begins and one as it ends, so every phase gets a profile of its own, CPU_PROFILE_DIR/<pid>-<n>.cpuprofile
// (n counting from 0), with start-up and loading keys left out. A profile still running is written at exit.
import { writeFileSync } from "node:fs"
import { Session } from "node:inspector"
import { join } from "node:path"

const dir = process.env.CPU_PROFILE_DIR
if (dir !== undefined) {
  const session = new Session()
  session.connect()
  session.post("Profiler.enable")
  session.post("Profiler.setSamplingInterval", { interval: 1000 })
  let running = false
  let written = 0
  // An in-process session answers synchronously, so the profile is written before this returns.
  const stop = () => {
    running = false
    session.post("Profiler.stop", (error, result) => {
      if (error === null) writeFileSync(join(dir, `${process.pid}-${written++}.cpuprofile`), JSON.stringify(result.profile))
    })
  }
  process.on("SIGUSR2", () => {
    if (running) return stop()
    running = true
    session.post("Profiler.start")
  })
  process.on("exit", () => {
    if (running) stop()
  })
}
