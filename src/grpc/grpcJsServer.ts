import * as grpc from "@grpc/grpc-js"
import { createRequire } from "node:module"
import { type CallContext, type CompatServiceDefinition, composeServerMiddleware, type ServerMiddleware } from "nice-grpc"

/**
 * One grpc-js `Server` carrying two kinds of service: most through
 * nice-grpc's handler adapters, exactly as nice-grpc's own `createServer`
 * registers them (middleware, `CallContext`, async handlers), and the hot
 * client methods as plain grpc-js handlers (`addGrpcJs`), which skip
 * nice-grpc's per-call machinery: an AbortController, two Metadata objects,
 * an async generator per middleware and a copy of every response. On one
 * node that machinery was about a sixth of a Get's CPU (bench/profile).
 *
 * nice-grpc does not export its adapters, so they are loaded from its
 * files (nice-grpc is pinned; `test/grpc/grpcJsServer.test.ts` fails if an
 * upgrade moves them).
 */
const require = createRequire(import.meta.url)

type Implementation = (...args: Array<never>) => unknown
type Adapter = (definition: unknown, implementation: Implementation, middleware: ServerMiddleware<CallContext> | undefined) => grpc.UntypedHandleCall
interface NormalizedMethod {
  readonly requestStream: boolean
  readonly responseStream: boolean
}

const load = <T>(file: string, name: string): T => {
  const found = (require(`nice-grpc/lib/${file}`) as Record<string, unknown>)[name]
  if (typeof found !== "function") throw new Error(`nice-grpc/lib/${file} has no ${name}: the pinned nice-grpc's layout changed`)
  return found as T
}

/** nice-grpc's internals this module stands on, resolved once. */
export const niceGrpcInternals = () => ({
  normalize: load<(definition: CompatServiceDefinition) => Record<string, NormalizedMethod>>("service-definitions/index.js", "normalizeServiceDefinition"),
  toGrpcJs: load<(definition: Record<string, NormalizedMethod>) => grpc.ServiceDefinition>("service-definitions/index.js", "toGrpcJsServiceDefinition"),
  unary: load<Adapter>("server/handleUnaryCall.js", "createUnaryMethodHandler"),
  serverStreaming: load<Adapter>("server/handleServerStreamingCall.js", "createServerStreamingMethodHandler"),
  clientStreaming: load<Adapter>("server/handleClientStreamingCall.js", "createClientStreamingMethodHandler"),
  bidiStreaming: load<Adapter>("server/handleBidiStreamingCall.js", "createBidiStreamingMethodHandler")
})

export interface ServiceAdder {
  /** Adds a nice-grpc service (a ts-proto definition and its implementation), behind the middleware so far. */
  add<Service extends CompatServiceDefinition>(definition: Service, implementation: object): void
  /** A builder whose services also run behind `middleware`. */
  with(middleware: ServerMiddleware<CallContext>): ServiceAdder
}

export interface GrpcJsServer extends ServiceAdder {
  /** Adds a service of plain grpc-js handlers (no nice-grpc middleware runs for it). */
  addGrpcJs(definition: grpc.ServiceDefinition, implementation: grpc.UntypedServiceImplementation): void
  listen(address: string, credentials?: grpc.ServerCredentials): Promise<number>
  /** Stops accepting calls and waits for the ones in flight. */
  shutdown(): Promise<void>
  forceShutdown(): void
}

export const makeGrpcJsServer = (options: grpc.ServerOptions, middleware?: ServerMiddleware<CallContext>): GrpcJsServer => {
  const nice = niceGrpcInternals()
  const server = new grpc.Server(options)
  const adder = (chain: ServerMiddleware<CallContext> | undefined): ServiceAdder => ({
    add(definition, implementation) {
      const methods = nice.normalize(definition)
      const handlers: grpc.UntypedServiceImplementation = {}
      for (const [name, method] of Object.entries(methods)) {
        const own = (implementation as Record<string, Implementation>)[name]!.bind(implementation)
        const adapt = method.requestStream
          ? (method.responseStream ? nice.bidiStreaming : nice.clientStreaming)
          : (method.responseStream ? nice.serverStreaming : nice.unary)
        handlers[name] = adapt(method, own, chain)
      }
      server.addService(nice.toGrpcJs(methods), handlers)
    },
    with: (next) => adder(chain === undefined ? next : composeServerMiddleware(chain, next))
  })
  return {
    ...adder(middleware),
    addGrpcJs: (definition, implementation) => server.addService(definition, implementation),
    listen: (address, credentials) =>
      new Promise((resolve, reject) =>
        server.bindAsync(address, credentials ?? grpc.ServerCredentials.createInsecure(), (error, port) => (error === null ? resolve(port) : reject(error)))
      ),
    shutdown: () => new Promise((resolve, reject) => server.tryShutdown((error) => (error === undefined ? resolve() : reject(error)))),
    forceShutdown: () => server.forceShutdown()
  }
}
