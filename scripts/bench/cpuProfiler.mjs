// Preloaded into a node by `pnpm bench:profile` (`NODE_OPTIONS=--import=<this file>`; --cpu-prof may not go in
// NODE_OPTIONS): profiles the process with the inspector from the first SIGUSR2 (the bench sends it when its
// measured phases begin, so start-up and loading keys are left out) and writes CPU_PROFILE_DIR/<pid>.cpuprofile
// when the process exits.
import { writeFileSync } from "node:fs"
import { Session } from "node:inspector"
import { join } from "node:path"

const dir = process.env.CPU_PROFILE_DIR
if (dir !== undefined) {
  const session = new Session()
  session.connect()
  let started = false
  process.on("SIGUSR2", () => {
    if (started) return
    started = true
    session.post("Profiler.enable")
    session.post("Profiler.setSamplingInterval", { interval: 500 })
    session.post("Profiler.start")
  })
  process.on("exit", () => {
    if (!started) return
    // An in-process session answers synchronously, so the profile is written before the process ends.
    session.post("Profiler.stop", (error, result) => {
      if (error === null) writeFileSync(join(dir, `${process.pid}.cpuprofile`), JSON.stringify(result.profile))
    })
  })
}
