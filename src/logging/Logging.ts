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

/** Replaces the default logger with the one `LOG_FORMAT` asks for, at `LOG_LEVEL`. */
export const LoggingLive = Layer.unwrapEffect(
  Effect.map(NodeConfig, (config) =>
    Layer.merge(
      Logger.replace(Logger.defaultLogger, loggerFor(config.logFormat)),
      Logger.minimumLogLevel(config.logLevel)
    ))
)
