import { Cause, Exit, Option } from "effect"
import { ServerError, Status } from "nice-grpc"
import type { ApiError } from "../api/CacheApi.js"
import type { EpochMismatch } from "../protocol/movement.js"

/** The gRPC status for each expected failure. The only place that knows this mapping. */
export const statusOf = (error: ApiError): Status => {
  switch (error._tag) {
    case "InvalidArgument":
      return Status.INVALID_ARGUMENT
    case "RateLimited":
      return Status.RESOURCE_EXHAUSTED
    case "QuorumUnavailable":
    case "NotServing":
    case "RingMoved":
      return Status.UNAVAILABLE
    case "WriteContention":
      return Status.ABORTED
  }
}

/**
 * The status of a refused pull or digest request: FAILED_PRECONDITION, so
 * the asker retries later. UNAVAILABLE would make its client drop a healthy
 * connection, failing every call in flight on it.
 */
export const movementStatusOf = (_error: EpochMismatch): Status => Status.FAILED_PRECONDITION

/** The status of a failed call's cause: its typed error's, CANCELLED when the client went away, INTERNAL for a defect. */
const statusOfCause = (cause: Cause.Cause<ApiError>): Status => {
  const failure = Cause.failureOption(cause)
  if (Option.isSome(failure)) return statusOf(failure.value)
  return Cause.isInterruptedOnly(cause) ? Status.CANCELLED : Status.INTERNAL
}

/** The status a call ends with; a read that found nothing (`None`) is NOT_FOUND. */
export const statusOfExit = (exit: Exit.Exit<unknown, ApiError>): Status => {
  if (Exit.isFailure(exit)) return statusOfCause(exit.cause)
  return Option.isOption(exit.value) && Option.isNone(exit.value) ? Status.NOT_FOUND : Status.OK
}

/** Turns the cause of a failed call into the error nice-grpc sends to the client. */
export const toServerError = (cause: Cause.Cause<ApiError>): ServerError => {
  const status = statusOfCause(cause)
  const failure = Cause.failureOption(cause)
  if (Option.isSome(failure)) return new ServerError(status, failure.value.message)
  return new ServerError(status, status === Status.CANCELLED ? "call cancelled" : "internal error")
}
