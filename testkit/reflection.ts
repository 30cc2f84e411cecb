import { fromBinary } from "@bufbuild/protobuf"
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt"
import { type Channel, createClient } from "nice-grpc"
import { ServerReflectionService } from "nice-grpc-server-reflection"
import {
  ServerReflectionRequest,
  type ServerReflectionResponse
} from "nice-grpc-server-reflection/lib/proto/grpc/reflection/v1/reflection_pb.js"

/** The same method under the older package name, spelled out here rather than taken from src/. */
const v1alpha = {
  serverReflectionInfo: {
    ...ServerReflectionService.serverReflectionInfo,
    path: "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"
  }
} as unknown as typeof ServerReflectionService

const ask = async (channel: Channel, version: "v1" | "v1alpha", request: ServerReflectionRequest) => {
  const client = createClient(version === "v1" ? ServerReflectionService : v1alpha, channel)
  async function* one() {
    yield request
  }
  for await (const response of client.serverReflectionInfo(one())) return response as ServerReflectionResponse
  throw new Error("no reflection response")
}

/** Service names the server lists. */
export const listServices = async (channel: Channel, version: "v1" | "v1alpha") => {
  const response = await ask(channel, version, new ServerReflectionRequest().setListServices(""))
  return response.getListServicesResponse()!.getServiceList().map((s) => s.getName())
}

/** The file that declares `symbol`, decoded. */
export const fileContainingSymbol = async (channel: Channel, version: "v1" | "v1alpha", symbol: string) => {
  const response = await ask(channel, version, new ServerReflectionRequest().setFileContainingSymbol(symbol))
  const files = response.getFileDescriptorResponse()?.getFileDescriptorProtoList_asU8() ?? []
  return files.map((bytes) => fromBinary(FileDescriptorProtoSchema, bytes))
}
