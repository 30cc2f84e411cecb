import { createHash, timingSafeEqual } from "node:crypto"
import { Redacted } from "effect"
import { type CallContext, type ServerMiddleware, ServerError, Status } from "nice-grpc"
import { CLUSTER_SECRET_HEADER } from "../protocol/headers.js"

const digest = (text: string) => createHash("sha256").update(text).digest()

/**
 * Refuses internal calls that do not carry CLUSTER_SECRET. Both sides are
 * hashed first so the comparison takes the same time whatever the input.
 */
export const requireClusterSecret = (secret: Redacted.Redacted<string>): ServerMiddleware<CallContext> => {
  const expected = digest(Redacted.value(secret))
  return async function*(call, context) {
    const given = context.metadata.get(CLUSTER_SECRET_HEADER)
    if (given === undefined || !timingSafeEqual(digest(given), expected)) {
      throw new ServerError(Status.UNAUTHENTICATED, "internal service: cluster secret missing or wrong")
    }
    return yield* call.next(call.request, context)
  }
}
