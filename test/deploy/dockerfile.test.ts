/**
 * The Dockerfile and .dockerignore, checked by construction: there is no
 * container engine here, so the Dockerfile is parsed and checked against the
 * repository and the node's own parsers. Every check is a function over the
 * file's text; "catches broken files" feeds each one a damaged copy and expects
 * it to fail, so none of them passes whatever the file says. The image's health
 * check script is run for real against a local HTTP server.
 */
import { execFile } from "node:child_process"
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { join } from "node:path"
import { describe, expect, it } from "vitest"
import { checkDockerAdminToken, checkDockerHealthcheck, checkDockerignore, checkDockerRuntime, checkDockerStages } from "./dockerfileChecks.js"
import { read, repoRoot } from "./files.js"

const dockerfile = () => read("Dockerfile")

describe("Dockerfile", () => {
  it("builds in stages: full install and pnpm build, production install, slim runtime", () => {
    checkDockerStages(dockerfile())
  })

  it("runs node on dist/main.js in exec form as a non-root user, exposing 8080 and 9080", () => {
    checkDockerRuntime(dockerfile())
  })

  it("has a HEALTHCHECK that runs node on a script asking /readyz", () => {
    checkDockerHealthcheck(dockerfile())
  })

  it("holds no admin token: it is given at run time", () => {
    checkDockerAdminToken(dockerfile())
  })

  it("sends the build what it copies, and not node_modules, dist, .reports or .git", () => {
    checkDockerignore(dockerfile(), read(".dockerignore"))
  })
})

// ---- each check fails on a broken file ---------------------------------------------------

describe("the checks catch broken files", () => {
  const dockerCases: ReadonlyArray<readonly [string, string | RegExp, string, (dockerfile: string) => void]> = [
    ["one stage", /FROM \$\{NODE_IMAGE\} AS (deps|build)\n/g, "", checkDockerStages],
    ["node_modules with dev dependencies", "--from=deps /app/node_modules", "--from=build /app/node_modules", checkDockerStages],
    ["an install without pnpm-workspace.yaml", "pnpm-lock.yaml pnpm-workspace.yaml ./", "pnpm-lock.yaml ./", checkDockerStages],
    ["a full runtime image", /FROM \$\{NODE_IMAGE\} AS runtime/, "FROM node:20 AS runtime", checkDockerStages],
    ["running as root", "USER 1000:1000", "USER root", checkDockerRuntime],
    ["a shell-form ENTRYPOINT", `ENTRYPOINT ["node", "dist/main.js"]`, "ENTRYPOINT node dist/main.js", checkDockerRuntime],
    ["an ENTRYPOINT on tsx", `ENTRYPOINT ["node", "dist/main.js"]`, `ENTRYPOINT ["node", "--import", "tsx", "src/main.ts"]`,
      checkDockerRuntime],
    ["the admin port not exposed", "EXPOSE 8080 9080", "EXPOSE 8080", checkDockerRuntime],
    ["dist without package.json (CommonJS)", "COPY package.json ./\n", "", checkDockerRuntime],
    ["an admin token in the image", "LOG_FORMAT=json", "LOG_FORMAT=json \\\n    ADMIN_TOKEN=0123456789abcdef", checkDockerAdminToken],
    ["no HEALTHCHECK", /HEALTHCHECK[^\n]*\\\n[^\n]*\n/, "", checkDockerHealthcheck],
    ["a HEALTHCHECK on a script not in the image", `"/app/healthcheck.mjs"`, `"/app/health.mjs"`, checkDockerHealthcheck],
    ["copying a file that is not there", "COPY tsconfig.json", "COPY tsconfig.base.json", (d) =>
      checkDockerignore(d, read(".dockerignore"))]
  ]
  for (const [what, from, to, check] of dockerCases) {
    it(`Dockerfile: ${what}`, () => {
      check(dockerfile())
      const broken = dockerfile().replace(from, to)
      expect(broken, "the damage applies").not.toBe(dockerfile())
      expect(() => check(broken)).toThrow()
    })
  }

  it(".dockerignore: node_modules sent to the build, or src left out", () => {
    const ignore = read(".dockerignore")
    checkDockerignore(dockerfile(), ignore)
    expect(() => checkDockerignore(dockerfile(), ignore.replace(/^node_modules$/m, ""))).toThrow()
    expect(() => checkDockerignore(dockerfile(), `${ignore}\nsrc\n`)).toThrow()
  })
})

// ---- the image's health check script, run for real ----------------------------------------

interface Probe {
  readonly server: Server
  readonly port: number
  readonly paths: Array<string>
}

const startAdmin = async (status: number): Promise<Probe> => {
  const paths: Array<string> = []
  const server = createServer((request, response) => {
    paths.push(request.url ?? "")
    response.writeHead(request.url === "/readyz" ? status : 404).end()
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  return { server, port: (server.address() as AddressInfo).port, paths }
}

const stop = (server: Server) => new Promise<void>((resolve) => server.close(() => resolve()))

const runHealthcheck = (env: Record<string, string>) =>
  new Promise<number>((resolve) => {
    execFile(process.execPath, [join(repoRoot, "deploy/healthcheck.mjs")], { env: { PATH: process.env.PATH ?? "", ...env }, timeout: 10_000 }, (
      error
    ) => resolve(error === null ? 0 : typeof error.code === "number" ? error.code : -1))
  })

describe("deploy/healthcheck.mjs (the image's HEALTHCHECK)", () => {
  it("passes when /readyz answers 200 on ADMIN_ADDR, and asks nothing else", async () => {
    const admin = await startAdmin(200)
    try {
      expect(await runHealthcheck({ ADMIN_ADDR: `127.0.0.1:${admin.port}` })).toBe(0)
      expect(admin.paths).toEqual(["/readyz"])
    } finally {
      await stop(admin.server)
    }
  })

  it("fails while the node is not ready (503) and when nothing answers", async () => {
    const admin = await startAdmin(503)
    try {
      expect(await runHealthcheck({ ADMIN_ADDR: `127.0.0.1:${admin.port}` })).toBe(1)
    } finally {
      await stop(admin.server)
    }
    expect(await runHealthcheck({ ADMIN_ADDR: `127.0.0.1:${admin.port}` })).toBe(1)
  })

  it("finds the admin port as the node does: LISTEN_ADDR's port + 1000, a wildcard bind dialled on loopback", async () => {
    const admin = await startAdmin(200)
    try {
      expect(await runHealthcheck({ LISTEN_ADDR: `0.0.0.0:${admin.port - 1000}`, ADDR: "elsewhere:1" })).toBe(0)
      expect(await runHealthcheck({ ADDR: `127.0.0.1:${admin.port - 1000}` })).toBe(0)
      expect(await runHealthcheck({ ADMIN_ADDR: `0.0.0.0:${admin.port}` })).toBe(0)
      expect(await runHealthcheck({ LISTEN_ADDR: `0.0.0.0:${admin.port}` })).toBe(1)
      expect(admin.paths).toEqual(["/readyz", "/readyz", "/readyz"])
    } finally {
      await stop(admin.server)
    }
  })
})
