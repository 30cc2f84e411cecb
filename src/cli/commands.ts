import { Args, Command, Options } from "@effect/cli"
import { ResponseError } from "@effect/platform/HttpClientError"
import { Console, Effect, Option } from "effect"
import { AdminError } from "../admin/AdminRpcs.js"
import { PACKAGE_VERSION } from "../config/version.js"
import { adminClient, cliToken } from "./AdminClient.js"
import { certs } from "./certsCommand.js"
import { membersTable, renderAvailability, renderHistory, renderOwners, renderRemoval, renderRing, renderStats, renderStatus } from "./render.js"

/** The admin address when neither `--admin` nor `ADMIN_ADDR` says otherwise: a local node's default. */
const DEFAULT_ADMIN = "localhost:9080"

const admin = Options.text("admin").pipe(
  Options.withAlias("a"),
  Options.withDescription("host:port of the node's admin server (ADMIN_ADDR); default $ADMIN_ADDR or localhost:9080"),
  Options.optional
)
const json = Options.boolean("json").pipe(Options.withDescription("print the answer as JSON"))
const tokenFile = Options.text("token-file").pipe(
  Options.withDescription("file holding the node's admin token (ADMIN_TOKEN); default $ADMIN_TOKEN, else the file $ADMIN_TOKEN_FILE names"),
  Options.optional
)

const root = Command.make("cache-cli", { admin, json, tokenFile })

const fail = (message: string) =>
  Effect.zipRight(
    Console.error(`cache-cli: ${message}`),
    Effect.sync(() => {
      process.exitCode = 1
    })
  )

/** Runs one admin call against the chosen node and prints its answer, as a table or as JSON. */
const show = <A, E, R>(
  call: (client: Effect.Effect.Success<ReturnType<typeof adminClient>>) => Effect.Effect<A, E, R>,
  render: (answer: A) => string
) =>
  Effect.gen(function*() {
    const options = yield* root
    const address = Option.getOrElse(options.admin, () => process.env["ADMIN_ADDR"] || DEFAULT_ADMIN)
    const token = cliToken(options.tokenFile)
    if (!token.ok) return yield* fail(token.error)
    yield* Effect.scoped(Effect.flatMap(adminClient(address, token.token), call)).pipe(
      Effect.flatMap((answer) => Console.log(options.json ? JSON.stringify(answer, null, 2) : render(answer))),
      Effect.catchAll((error) => Effect.flatMap(describe(address, Option.isSome(token.token), error), fail))
    )
  })

/**
 * One line for a failed call: the node's own refusal, the admin server's
 * answer when it is not the API's (401 for the token, 413, 503 while
 * starting), or why it could not be reached (innermost cause).
 */
const describe = (address: string, sentToken: boolean, error: unknown): Effect.Effect<string> => {
  if (error instanceof AdminError) return Effect.succeed(error.message)
  let cause: unknown = error
  while (!(cause instanceof ResponseError) && cause instanceof Error && cause.cause !== undefined) cause = cause.cause
  if (cause instanceof ResponseError && cause.response.status !== 200) {
    const status = cause.response.status
    return Effect.map(Effect.orElseSucceed(cause.response.text, () => ""), (body) => {
      const answer = `${status}${body.trim() === "" ? "" : ` ${body.trim()}`}`
      if (status !== 401) return `the admin API at ${address} answered ${answer}`
      return sentToken
        ? `the admin API at ${address} refused the token (${answer}): use the node's ADMIN_TOKEN`
        : `the admin API at ${address} asks for its token (${answer}): set ADMIN_TOKEN or pass --token-file PATH`
    })
  }
  return Effect.succeed(unreachable(address, error))
}

/** Why the admin server could not be reached: the innermost cause. */
const unreachable = (address: string, error: unknown): string => {
  let cause: unknown = error
  while (cause instanceof Error && cause.cause instanceof Error) cause = cause.cause
  const reason = cause instanceof Error ? cause.message : String(cause)
  return `no answer from the admin API at ${address}: ${reason}`
}

const status = Command.make("status", {}, () => show((c) => c.Status(), renderStatus)).pipe(
  Command.withDescription("the node, its readiness and the members it sees")
)
const members = Command.make("members", {}, () => show((c) => c.Members(), membersTable)).pipe(
  Command.withDescription("members with state and incarnation")
)
const ring = Command.make(
  "ring",
  { ranges: Options.boolean("ranges").pipe(Options.withDescription("also list every range and its replicas")) },
  ({ ranges }) => show((c) => c.Ring({ ranges }), renderRing)
).pipe(Command.withDescription("the ring: each member's share, epoch, digest"))
const owners = Command.make("owners", { key: Args.text({ name: "key" }) }, ({ key }) => show((c) => c.Owners({ key }), renderOwners))
  .pipe(Command.withDescription("the replicas of a key, primary first"))
const stats = Command.make("stats", {}, () => show((c) => c.Stats(), renderStats)).pipe(
  Command.withDescription("the local store and process")
)
const leave = Command.make("leave", {}, () => show((c) => c.Leave(), (a) => `${a.address}: ${a.message}`)).pipe(
  Command.withDescription("drain the node and leave the ring by agreement (as SIGTERM does)")
)
const history = Command.make("history", {}, () => show((c) => c.History(), renderHistory)).pipe(
  Command.withDescription("the agreed ring configurations this node installed, oldest first")
)
const unavailable = Command.make("unavailable", {}, () => show((c) => c.Unavailable(), renderAvailability)).pipe(
  Command.withDescription("ranges whose replicas lack a reachable majority now, and what the leader waits for")
)
const remove = Command.make(
  "remove",
  {
    force: Options.boolean("force").pipe(
      Options.withDescription("remove even where the remaining replicas lack a reachable majority (writes only it holds may be lost)")
    ),
    member: Args.text({ name: "member" })
  },
  ({ force, member }) => show((c) => c.Remove({ member, force }), renderRemoval)
).pipe(Command.withDescription("ask the leader to remove a member (host:port); one that S4 does not allow only with --force"))

/** `pnpm cli <command>`: the admin API for people. */
export const cli = Command.run(
  root.pipe(Command.withSubcommands([status, members, ring, history, unavailable, owners, stats, remove, leave, certs])),
  { name: "cache-cli", version: PACKAGE_VERSION }
)
