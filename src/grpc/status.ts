import { Cause, Option } from "effect"
import { ServerError, Status } from "nice-grpc"
import type { ApiError } from "../api/CacheApi.js"

/** The gRPC status for each expected failure. The only place that knows this mapping. */
export const statusOf = (error: ApiError): Status => {
  switch (error._tag) {
    case "InvalidArgument":
      return Status.INVALID_ARGUMENT
    case "RateLimited":
      return Status.RESOURCE_EXHAUSTED
    case "QuorumUnavailable":
      return Status.UNAVAILABLE
    case "WriteContention":
      return Status.ABORTED
  }
}

/** Turns the cause of a failed call into the error nice-grpc sends to the client. */
export const toServerError = (cause: Cause.Cause<ApiError>): ServerError => {
  const failure = Cause.failureOption(cause)
  if (Option.isSome(failure)) return new ServerError(statusOf(failure.value), failure.value.message)
  if (Cause.isInterruptedOnly(cause)) return new ServerError(Status.CANCELLED, "call cancelled")
  return new ServerError(Status.INTERNAL, "internal error")
}
