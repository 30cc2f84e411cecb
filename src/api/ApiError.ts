import { Schema } from "effect"

/** The request itself is wrong (empty key, value over its limit, ...); retrying it cannot help. */
export class InvalidArgument extends Schema.TaggedError<InvalidArgument>()("InvalidArgument", {
  message: Schema.String
}) {}
