import * as grpc from "@grpc/grpc-js"

/**
 * gRPC calls with exact bytes: a grpc-js client whose serializers are the
 * identity, so what a fuzz case built (a valid encoding, a mutated one, a
 * message over the size limit) is what goes on the wire, and the outcome is
 * the status the server sent, not one the client made up while encoding.
 */

/** How a method streams, as in the generated service definitions. */
export interface RawMethod {
  readonly path: string
  readonly requestStream: boolean
  readonly responseStream: boolean
}

/** What one call came to. `code` -1: the client never reported a status (a hang on our side of the wire). */
export interface RawOutcome {
  readonly code: number
  readonly details: string
  readonly elapsedMs: number
  /** Response messages, kept only when asked for (a pull may be large). */
  readonly responses: ReadonlyArray<Buffer>
  readonly responseCount: number
  /** DEADLINE_EXCEEDED by the client's own deadline, or no status at all: the server did not answer in time. */
  readonly hang: boolean
}

const identity = (bytes: Buffer) => bytes

/**
 * A client of one node. No receive limit on our side: a large response must
 * not turn into a RESOURCE_EXHAUSTED that the server never sent.
 */
export const rawClient = (address: string, credentials: grpc.ChannelCredentials, options: grpc.ChannelOptions = {}) =>
  new grpc.Client(address, credentials, {
    "grpc.max_receive_message_length": -1,
    "grpc.max_send_message_length": -1,
    ...options
  })

const metadataOf = (headers: Record<string, string>) => {
  const metadata = new grpc.Metadata()
  for (const [key, value] of Object.entries(headers)) metadata.set(key, value)
  return metadata
}

export interface RawCallOptions {
  readonly metadata?: Record<string, string>
  readonly deadlineMs: number
  readonly keepResponses?: boolean
}

/**
 * Sends `messages` (exactly one for a unary or server-streaming method) and
 * resolves with the status. A watchdog past the deadline cancels a call
 * whose status never came, so a wedged call can not wedge the suite.
 */
export const rawCall = (client: grpc.Client, method: RawMethod, messages: ReadonlyArray<Buffer>, options: RawCallOptions): Promise<RawOutcome> =>
  new Promise((resolve) => {
    const started = performance.now()
    const responses: Array<Buffer> = []
    let responseCount = 0
    let settled = false
    const metadata = metadataOf(options.metadata ?? {})
    const callOptions = { deadline: new Date(Date.now() + options.deadlineMs) }
    const onData = (bytes: Buffer) => {
      responseCount++
      if (options.keepResponses === true) responses.push(bytes)
    }
    let cancel = () => {}
    const watchdog = setTimeout(() => finish({ code: -1, details: "no status from the client after its deadline" }), options.deadlineMs + 5_000)
    const finish = (status: { readonly code: number; readonly details: string }) => {
      if (settled) return
      settled = true
      clearTimeout(watchdog)
      const elapsedMs = performance.now() - started
      const hang = status.code === -1 || (status.code === grpc.status.DEADLINE_EXCEEDED && elapsedMs >= options.deadlineMs * 0.9)
      if (status.code === -1) cancel()
      resolve({ code: status.code, details: status.details, elapsedMs, responses, responseCount, hang })
    }
    const first = messages[0] ?? Buffer.alloc(0)
    if (!method.requestStream && !method.responseStream) {
      const call = client.makeUnaryRequest(method.path, identity, identity, first, metadata, callOptions, (error, response) => {
        if (error) finish({ code: error.code, details: error.details })
        else {
          if (response !== undefined) onData(response)
          finish({ code: grpc.status.OK, details: "" })
        }
      })
      cancel = () => call.cancel()
      return
    }
    const call = method.requestStream
      ? method.responseStream
        ? client.makeBidiStreamRequest(method.path, identity, identity, metadata, callOptions)
        : client.makeClientStreamRequest(method.path, identity, identity, metadata, callOptions, (error, response) => {
            if (!error && response !== undefined) onData(response)
          })
      : client.makeServerStreamRequest(method.path, identity, identity, first, metadata, callOptions)
    cancel = () => call.cancel()
    if ("on" in call) {
      call.on("data", onData)
      call.on("error", () => {}) // the status event carries the outcome
      call.on("status", (status: grpc.StatusObject) => finish(status))
    }
    if (method.requestStream) {
      const writable = call as grpc.ClientWritableStream<Buffer>
      for (const message of messages) writable.write(message)
      writable.end()
    }
  })

export const statusName = (code: number): string => code === -1 ? "NO_STATUS" : (grpc.status[code] ?? `CODE_${code}`)
