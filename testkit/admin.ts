import { Effect, Option, Redacted } from "effect"
import parsePrometheusTextFormat from "parse-prometheus-text-format"
import { adminClient } from "../src/cli/AdminClient.js"

type Client = Effect.Effect.Success<ReturnType<typeof adminClient>>

/** Runs one call of the admin API of the node whose admin server is at `address`, with its admin token when given. */
export const adminCall = <A, E>(address: string, call: (client: Client) => Effect.Effect<A, E>, token?: string): Promise<A> =>
  Effect.runPromise(Effect.scoped(Effect.flatMap(adminClient(address, Option.map(Option.fromNullable(token), Redacted.make)), call)))

/** GET on the admin server: status and body text. */
export const adminGet = async (address: string, path: string, headers: Record<string, string> = {}) => {
  const response = await fetch(`http://${address}${path}`, { headers })
  return { status: response.status, contentType: response.headers.get("content-type"), body: await response.text() }
}

/** The `Authorization` header that carries an admin token. */
export const bearer = (token: string) => ({ authorization: `Bearer ${token}` })

/** One sample of a parsed metric family. */
interface Sample {
  readonly labels?: Record<string, string>
  readonly value?: string
}
interface Family {
  readonly name: string
  readonly type: string
  readonly metrics: ReadonlyArray<Sample>
}

/**
 * Parses Prometheus text with an independent parser (it throws on a
 * malformed line) and reads values by name and labels.
 */
export const parseMetrics = (text: string) => {
  const families = parsePrometheusTextFormat(text) as ReadonlyArray<Family>
  const byName = new Map(families.map((family) => [family.name, family]))
  const matches = (sample: Sample, labels: Record<string, string>) =>
    Object.entries(labels).every(([key, value]) => sample.labels?.[key] === value)
  return {
    families,
    /** The family's type as prom2json names it: COUNTER, GAUGE, HISTOGRAM, SUMMARY. */
    type: (name: string) => byName.get(name)?.type,
    /** The value of the sample with these labels; undefined when absent. */
    value: (name: string, labels: Record<string, string> = {}): number | undefined => {
      const sample = byName.get(name)?.metrics.find((s) => matches(s, labels))
      return sample?.value === undefined ? undefined : Number(sample.value)
    },
    /**
     * A histogram's observation count for these labels (0 when absent), read
     * from its `_count` line: the parser folds labelled histograms together.
     */
    histogramCount: (name: string, labels: Record<string, string> = {}): number => {
      for (const line of text.split("\n")) {
        const match = /^(\w+)\{(.*)\}\s+(\S+)$/.exec(line)
        if (match === null || match[1] !== `${name}_count`) continue
        const sample = { labels: Object.fromEntries([...match[2]!.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1]!, m[2]!])) }
        if (matches(sample, labels)) return Number(match[3])
      }
      return 0
    }
  }
}
