import type { ReplicaOp, ReplicaResult, StreamRequest, StreamResponse } from "../generated/cluster/v1/cluster.js"

/** One batch on a stream: its operations and who waits for their results (or for why there are none). */
export interface StreamBatch {
  readonly ops: Array<ReplicaOp>
  /** About their size on the wire. */
  readonly bytes: number
  readonly sentAtMs: number
  readonly settle: (outcome: ReadonlyArray<ReplicaResult> | { readonly failure: unknown }) => void
}

/** Opens the bidirectional call: requests in, responses out, cancelled by `signal`. */
export type OpenStream = (requests: AsyncIterable<StreamRequest>, signal: AbortSignal) => AsyncIterable<StreamResponse>

/**
 * One peer's `ReplicaService/Stream` call. Batches go out as messages and
 * the peer answers each message with one message, in order, so answers are
 * matched by position. At most `maxOutstanding` messages await answers at a
 * time; batches sent meanwhile wait and then go out together as one message
 * (up to `maxOps` operations and `maxBytes` bytes; a batch alone may be
 * larger). Under load this makes messages, whose fixed cost dominates,
 * fewer and fuller; when idle a batch leaves at once. The peer may split a
 * large answer over several messages (`more`); they are joined again here.
 * When the call ends for any reason, every batch still unanswered fails
 * with that reason and the stream is done; the pool opens a new one for
 * the next batch. Plain code, no Effect: it sits under the coordinator's
 * callbacks.
 */
export class ReplicaStream {
  /** Sent, not yet taken by the call's writer. */
  private readonly queued: Array<StreamBatch> = []
  /** Written to the call, one group of batches per message, answers due in this order. */
  private readonly answering: Array<ReadonlyArray<StreamBatch>> = []
  private wakeWriter: (() => void) | undefined
  private done = false
  private readonly abort = new AbortController()

  constructor(
    open: OpenStream,
    private readonly onEnd: (stream: ReplicaStream, failure: unknown) => void,
    private readonly maxOutstanding: number,
    private readonly maxOps: number,
    private readonly maxBytes: number,
    /** Told the size of each message sent. */
    private readonly onMessage: (ops: number) => void,
    /** This node's address, sent with each message: where a replica that is behind learns the newer ring. */
    private readonly from: string
  ) {
    void this.read(open(this.requests(), this.abort.signal))
  }

  send(batch: StreamBatch): void {
    if (this.done) return batch.settle({ failure: new Error("replica stream closed") })
    this.queued.push(batch)
    this.wakeWriter?.()
  }

  /** When the oldest unanswered batch was sent; undefined when none is waiting. */
  oldestSentAtMs(): number | undefined {
    return (this.answering[0]?.[0] ?? this.queued[0])?.sentAtMs
  }

  /** Ends the call; every unanswered batch fails with `failure`. */
  close(failure: unknown): void {
    if (this.done) return
    this.done = true
    this.abort.abort()
    this.wakeWriter?.()
    for (const group of this.answering.splice(0)) for (const batch of group) batch.settle({ failure })
    for (const batch of this.queued.splice(0)) batch.settle({ failure })
    this.onEnd(this, failure)
  }

  private async *requests(): AsyncGenerator<StreamRequest> {
    while (!this.done) {
      if (this.queued.length === 0 || this.answering.length >= this.maxOutstanding) {
        await new Promise<void>((resolve) => (this.wakeWriter = resolve))
        this.wakeWriter = undefined
        continue
      }
      // Everything that waited goes out together, up to maxOps operations.
      const group: Array<StreamBatch> = [this.queued.shift()!]
      let ops = group[0]!.ops
      let bytes = group[0]!.bytes
      while (
        this.queued.length > 0 && ops.length + this.queued[0]!.ops.length <= this.maxOps &&
        bytes + this.queued[0]!.bytes <= this.maxBytes
      ) {
        const next = this.queued.shift()!
        group.push(next)
        ops = ops.concat(next.ops)
        bytes += next.bytes
      }
      this.answering.push(group)
      this.onMessage(ops.length)
      yield { ops, from: this.from }
    }
  }

  private async read(responses: AsyncIterable<StreamResponse>): Promise<void> {
    try {
      let parts: Array<ReplicaResult> = []
      for await (const response of responses) {
        const group = this.answering[0]
        if (group === undefined) throw new Error("replica stream answered a batch it was not sent")
        const results = parts.length === 0 ? response.results : parts.concat(response.results)
        if (response.more) {
          if (results.length >= opsIn(group)) throw new Error("replica stream answered more results than operations")
          parts = results
          continue
        }
        parts = []
        this.answering.shift()
        let offset = 0
        for (const batch of group) {
          batch.settle(group.length === 1 ? results : results.slice(offset, offset + batch.ops.length))
          offset += batch.ops.length
        }
        this.wakeWriter?.()
      }
      this.close(new Error("replica stream ended by the peer"))
    } catch (error) {
      this.close(error)
    }
  }
}

const opsIn = (group: ReadonlyArray<StreamBatch>): number => {
  let ops = 0
  for (const batch of group) ops += batch.ops.length
  return ops
}
