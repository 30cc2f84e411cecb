import * as FetchHttpClient from "@effect/platform/FetchHttpClient"
import { RpcClient, RpcSerialization } from "@effect/rpc"
import { Effect, Layer } from "effect"
import { ADMIN_RPC_PATH, AdminRpcs } from "../admin/AdminRpcs.js"

/** A client of one node's admin API at `host:port` (its `ADMIN_ADDR`). */
export const adminClient = (admin: string) =>
  RpcClient.make(AdminRpcs).pipe(
    Effect.provide(
      RpcClient.layerProtocolHttp({ url: `http://${admin}${ADMIN_RPC_PATH}` }).pipe(
        Layer.provide(FetchHttpClient.layer),
        Layer.provide(RpcSerialization.layerJson)
      )
    )
  )
