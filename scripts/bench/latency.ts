import * as hdr from "hdr-histogram-js"

/** A latency histogram in microseconds, 3 significant digits, up to a minute. */
export const newHistogram = (): hdr.Histogram =>
  hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 })

/** Latency percentiles in milliseconds. */
export interface LatencySummary {
  readonly count: number
  readonly p50Ms: number
  readonly p90Ms: number
  readonly p99Ms: number
  readonly p999Ms: number
  readonly maxMs: number
}

const ms = (us: number) => Math.round(us) / 1000

export const summarize = (histogram: hdr.Histogram): LatencySummary => ({
  count: histogram.totalCount,
  p50Ms: ms(histogram.getValueAtPercentile(50)),
  p90Ms: ms(histogram.getValueAtPercentile(90)),
  p99Ms: ms(histogram.getValueAtPercentile(99)),
  p999Ms: ms(histogram.getValueAtPercentile(99.9)),
  maxMs: ms(histogram.maxValue)
})

/** A histogram as text, to cross a process boundary. */
export const encode = (histogram: hdr.Histogram): string => hdr.encodeIntoCompressedBase64(histogram)
export const decode = (text: string): hdr.Histogram => hdr.decodeFromCompressedBase64(text)
