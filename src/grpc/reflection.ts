import { ServerReflection, ServerReflectionService } from "nice-grpc-server-reflection"
import { descriptorSetBase64 } from "../generated/descriptorSet.js"

/**
 * `grpc.reflection.v1alpha` is wire-identical to `v1` (the same messages
 * under another package name), so the v1 implementation serves it on the
 * old path too. Older grpcurl builds speak only v1alpha.
 */
export const ServerReflectionV1AlphaService = {
  serverReflectionInfo: {
    ...ServerReflectionService.serverReflectionInfo,
    path: "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"
  }
} as unknown as typeof ServerReflectionService // same types, other path

/** Reflection over every file in proto/, listing the given services. */
export const makeReflection = (serviceNames: ReadonlyArray<string>) =>
  ServerReflection(new Uint8Array(Buffer.from(descriptorSetBase64, "base64")), serviceNames)
