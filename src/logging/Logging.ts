import { Cause, Effect, HashMap, Layer, Logger } from "effect"
import { NodeConfig, type LogFormat } from "../config/NodeConfig.js"

const messageText = (message: unknown): string => {
  const parts = Array.isArray(message) ? message : [message]
  return parts.map((part) => (typeof part === "string" ? part : JSON.stringify(part))).join(" ")
}

/**
 * One JSON object per line on stdout: `time`, `level`, `msg`, then the log
 * annotations (address, method, ...) as fields, and `cause` when there is one.
 */
export const jsonLineLogger = Logger.make(({ annotations, cause, date, logLevel, message }) => {
  const record: Record<string, unknown> = {
    time: date.toISOString(),
    level: logLevel.label.toLowerCase(),
    msg: messageText(message)
  }
  for (const [key, value] of HashMap.toEntries(annotations)) record[key] = value
  if (!Cause.isEmpty(cause)) record["cause"] = Cause.pretty(cause, { renderErrorCause: true })
  process.stdout.write(JSON.stringify(record) + "\n")
})

const loggerFor = (format: LogFormat): Logger.Logger<unknown, void> => {
  switch (format) {
    case "json":
      return jsonLineLogger
    case "pretty":
      return Logger.prettyLoggerDefault
    case "logfmt":
      return Logger.withConsoleLog(Logger.logfmtLogger)
  }
}

/** A closed log pipe must not take the node down: drop the lines instead. */
const ignoreClosedPipe = (error: NodeJS.ErrnoException) => {
  if (error.code !== "EPIPE") throw error
}

/** Replaces the default logger with the one `LOG_FORMAT` asks for, at `LOG_LEVEL`. */
export const LoggingLive = Layer.unwrapScoped(
  Effect.map(NodeConfig, (config) =>
    Layer.merge(
      Logger.replace(Logger.defaultLogger, loggerFor(config.logFormat)),
      Logger.minimumLogLevel(config.logLevel)
    )).pipe(
      Effect.tap(Effect.acquireRelease(
        Effect.sync(() => process.stdout.on("error", ignoreClosedPipe)),
        () => Effect.sync(() => process.stdout.off("error", ignoreClosedPipe))
      ))
    )
)
