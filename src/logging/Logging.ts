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

/** Characters of one logged string at most: a 1 MB address from a peer is not logged whole. */
export const MAX_LOGGED_CHARS = 512
/** Entries of one logged list at most. */
const MAX_LOGGED_ITEMS = 32

// C0 and C1 control characters and DEL: a newline or an escape sequence in a
// peer's address must not forge a log line or repaint a terminal.
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g
const escapeControl = (char: string) => {
  const code = char.charCodeAt(0)
  return code === 10 ? "\\n" : code === 13 ? "\\r" : code === 9 ? "\\t" : `\\x${code.toString(16).padStart(2, "0")}`
}

/** A string safe to log in every format: control characters escaped, bounded length. */
export const loggable = (text: string): string => {
  const bounded = text.length > MAX_LOGGED_CHARS ? `${text.slice(0, MAX_LOGGED_CHARS)}...(${text.length - MAX_LOGGED_CHARS} more chars)` : text
  return bounded.replace(CONTROL, escapeControl)
}

const loggableValue = (value: unknown): unknown =>
  typeof value === "string"
    ? loggable(value)
    : Array.isArray(value)
    ? value.slice(0, MAX_LOGGED_ITEMS).map((item) => (typeof item === "string" ? loggable(item) : item))
    : value

/**
 * Every log line's message and annotations made loggable before any format
 * sees them: much of what is logged (addresses, reasons) comes from peers.
 */
export const bounded = <O>(logger: Logger.Logger<unknown, O>): Logger.Logger<unknown, O> =>
  Logger.mapInputOptions(logger, (options) => ({
    ...options,
    message: Array.isArray(options.message) ? options.message.map(loggableValue) : loggableValue(options.message),
    annotations: HashMap.map(options.annotations, loggableValue)
  }))

const loggerFor = (format: LogFormat): Logger.Logger<unknown, void> => {
  switch (format) {
    case "json":
      return bounded(jsonLineLogger)
    case "pretty":
      return bounded(Logger.prettyLoggerDefault)
    case "logfmt":
      return bounded(Logger.withConsoleLog(Logger.logfmtLogger))
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
