import { createServer, type IncomingMessage } from "node:http"
import type { AddressInfo } from "node:net"

/** One span as an OTLP/JSON export carries it, with the instance that sent it. */
export interface ReceivedSpan {
  readonly instance: string
  readonly traceId: string
  readonly spanId: string
  readonly parentSpanId: string
  readonly name: string
  /** OTLP SpanKind: 1 internal, 2 server, 3 client. */
  readonly kind: number
  readonly attributes: Record<string, unknown>
  readonly status: { readonly code?: number }
}

interface OtlpValue {
  readonly stringValue?: string
  readonly intValue?: string | number
  readonly boolValue?: boolean
  readonly doubleValue?: number
}
interface OtlpKeyValue {
  readonly key: string
  readonly value: OtlpValue
}

const valueOf = (v: OtlpValue): unknown =>
  v.stringValue ?? (v.intValue !== undefined ? Number(v.intValue) : undefined) ?? v.boolValue ?? v.doubleValue

const attributesOf = (list: ReadonlyArray<OtlpKeyValue> | undefined): Record<string, unknown> =>
  Object.fromEntries((list ?? []).map(({ key, value }) => [key, valueOf(value)]))

const bodyOf = (request: IncomingMessage): Promise<Buffer> =>
  new Promise((resolve, reject) => {
    const chunks: Array<Buffer> = []
    request.on("data", (chunk: Buffer) => chunks.push(chunk))
    request.on("end", () => resolve(Buffer.concat(chunks)))
    request.on("error", reject)
  })

/**
 * An in-process OTLP/HTTP receiver for tests: it answers POST /v1/traces,
 * decodes JSON exports into spans, and keeps protobuf exports as raw bodies.
 */
export const startOtlpReceiver = async (host: string) => {
  const spans: Array<ReceivedSpan> = []
  const protobufBodies: Array<Buffer> = []
  const waiters = new Set<() => void>()
  const server = createServer(async (request, response) => {
    const body = await bodyOf(request)
    if (request.method !== "POST" || request.url !== "/v1/traces") {
      response.writeHead(404).end()
      return
    }
    if (request.headers["content-type"]?.startsWith("application/json")) {
      const exported = JSON.parse(body.toString("utf8")) as {
        resourceSpans?: ReadonlyArray<{
          resource?: { attributes?: ReadonlyArray<OtlpKeyValue> }
          scopeSpans?: ReadonlyArray<{ spans?: ReadonlyArray<Record<string, unknown>> }>
        }>
      }
      for (const resourceSpans of exported.resourceSpans ?? []) {
        const instance = String(attributesOf(resourceSpans.resource?.attributes)["service.instance.id"])
        for (const scope of resourceSpans.scopeSpans ?? []) {
          for (const span of scope.spans ?? []) {
            spans.push({
              instance,
              traceId: String(span["traceId"]),
              spanId: String(span["spanId"]),
              parentSpanId: String(span["parentSpanId"] ?? ""),
              name: String(span["name"]),
              kind: Number(span["kind"]),
              attributes: attributesOf(span["attributes"] as ReadonlyArray<OtlpKeyValue>),
              status: (span["status"] ?? {}) as { code?: number }
            })
          }
        }
      }
    } else {
      protobufBodies.push(body)
    }
    response.writeHead(200, { "content-type": "application/json" }).end("{}")
    for (const wake of waiters) wake()
  })
  await new Promise<void>((resolve) => server.listen(0, host, resolve))
  const { port } = server.address() as AddressInfo

  /** Resolves once `ready()` holds over what has arrived; rejects after `timeoutMs`. */
  const waitFor = (ready: () => boolean, timeoutMs = 20_000) =>
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if (!ready()) return
        waiters.delete(check)
        clearTimeout(timer)
        resolve()
      }
      const timer = setTimeout(() => {
        waiters.delete(check)
        reject(new Error(`expected spans not received within ${timeoutMs} ms; got: ${spans.map((s) => s.name).join(", ")}`))
      }, timeoutMs)
      waiters.add(check)
      check()
    })

  return {
    endpoint: `http://${host}:${port}`,
    spans: (): ReadonlyArray<ReceivedSpan> => spans,
    protobufBodies: (): ReadonlyArray<Buffer> => protobufBodies,
    waitFor,
    close: () => new Promise<void>((resolve) => server.close(() => resolve()))
  }
}
