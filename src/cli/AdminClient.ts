import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import * as HttpClient from "@effect/platform/HttpClient"
import * as HttpClientRequest from "@effect/platform/HttpClientRequest"
import { RpcClient, RpcSerialization } from "@effect/rpc"
import { Effect, Layer, Option, Redacted } from "effect"
import { ADMIN_RPC_PATH, AdminRpcs } from "../admin/AdminRpcs.js"
import { resolveAdminToken } from "../config/adminToken.js"

/**
 * A client of one node's admin API at `host:port` (its `ADMIN_ADDR`),
 * sending `token` as `Authorization: Bearer` when given.
 */
export const adminClient = (admin: string, token: Option.Option<Redacted.Redacted<string>> = Option.none()) =>
  RpcClient.make(AdminRpcs).pipe(
    Effect.provide(
      RpcClient.layerProtocolHttp({
        url: `http://${admin}${ADMIN_RPC_PATH}`,
        transformClient: (client) =>
          Option.match(token, {
            onNone: () => client,
            onSome: (value) => HttpClient.mapRequest(client, HttpClientRequest.bearerToken(value))
          })
      }).pipe(
        Layer.provide(FetchHttpClient.layer),
        Layer.provide(RpcSerialization.layerJson)
      )
    )
  )

/**
 * The admin token the CLI sends, trimmed and checked as the node does: the file
 * `--token-file` names, else `ADMIN_TOKEN`, else the file `ADMIN_TOKEN_FILE`
 * names; none when none is set. An unreadable file or a token no node would
 * accept is an error naming where it came from.
 */
export const cliToken = (
  tokenFile: Option.Option<string>,
  env: Record<string, string | undefined> = process.env
): { readonly ok: true; readonly token: Option.Option<Redacted.Redacted<string>> } | { readonly ok: false; readonly error: string } => {
  const fromEnv = (name: string) => env[name] === undefined || env[name] === "" ? undefined : env[name]
  const source = Option.isSome(tokenFile)
    ? resolveAdminToken(undefined, tokenFile.value)
    : resolveAdminToken(fromEnv("ADMIN_TOKEN"), fromEnv("ADMIN_TOKEN") === undefined ? fromEnv("ADMIN_TOKEN_FILE") : undefined)
  if (!source.ok) return { ok: false, error: `${Option.isSome(tokenFile) ? "--token-file" : source.variable}: ${source.error}` }
  return { ok: true, token: Option.map(Option.fromNullable(source.token), Redacted.make) }
}
