import { type CallContext, type ServerMiddleware, ServerError } from "nice-grpc"
import { wellFormed } from "../protocol/text.js"

/**
 * Error details made well-formed before grpc-js sends them: it percent-encodes
 * them with `encodeURI`, which throws on a lone surrogate, and the throw takes
 * the process down. Text from a peer that was not valid UTF-8 decodes to
 * exactly such a string (see protocol/text.ts), and a handler may quote it.
 */
export const wellFormedErrors: ServerMiddleware<CallContext> = async function*(call, context) {
  try {
    return yield* call.next(call.request, context)
  } catch (error) {
    if (error instanceof ServerError && !wellFormed(error.details)) {
      throw new ServerError(error.code, (error.details as unknown as { toWellFormed(): string }).toWellFormed())
    }
    throw error
  }
}
