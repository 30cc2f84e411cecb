import type { IncomingMessage } from "node:http"
import type { Readable } from "node:stream"

/** A request body read up to a limit: its bytes, or word that it is larger, or why it could not be read. */
export type BoundedBody =
  | { readonly _tag: "Body"; readonly bytes: Buffer }
  | { readonly _tag: "TooLarge" }
  | { readonly _tag: "Failed"; readonly reason: string }

/**
 * Reads `source` to its end while it stays within `maxBytes`, counting the
 * bytes as they arrive (a chunked body declares no length). Past the limit
 * it stops reading and pauses the stream without destroying it, so that the
 * caller can still answer 413 on the same connection (see `discardRest`); no
 * more than `maxBytes` plus one chunk is ever held. Returns a function that
 * stops reading (the caller went away).
 */
export const readBounded = (source: Readable, maxBytes: number, done: (body: BoundedBody) => void): () => void => {
  const chunks: Array<Buffer> = []
  let size = 0
  const stop = () => {
    source.off("data", onData)
    source.off("end", onEnd)
    source.off("error", onError)
  }
  const onData = (chunk: Buffer) => {
    size += chunk.length
    if (size > maxBytes) {
      stop()
      source.pause()
      chunks.length = 0
      done({ _tag: "TooLarge" })
      return
    }
    chunks.push(chunk)
  }
  const onEnd = () => {
    stop()
    done({ _tag: "Body", bytes: Buffer.concat(chunks, size) })
  }
  const onError = (error: Error) => {
    stop()
    done({ _tag: "Failed", reason: error.message })
  }
  source.on("data", onData)
  source.once("end", onEnd)
  source.once("error", onError)
  return stop
}

/**
 * Drops the rest of a refused request's body, so that a sender still
 * writing it reads the answer rather than a reset connection (a staged
 * close, RFC 9112 section 9.6): nothing is kept, and past `budgetBytes` the
 * connection is closed, unless the body is complete by then. Returns a
 * function that closes it now unless the body is complete (the caller's
 * time limit).
 */
export const discardRest = (source: IncomingMessage, budgetBytes: number): () => void => {
  let dropped = 0
  const close = () => {
    if (!source.complete && !source.destroyed) source.destroy()
  }
  source.on("data", (chunk: Buffer) => {
    dropped += chunk.length
    if (dropped > budgetBytes) close()
  })
  source.resume()
  return close
}
