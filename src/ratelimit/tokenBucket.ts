/**
 * A token bucket: `ratePerSecond` tokens flow in, at most `burst` are kept,
 * each admitted call takes one. Time comes in as `nowMs`; nothing here reads
 * a clock, so tests drive it directly.
 */
export class TokenBucket {
  private tokens: number
  private updatedMs: number

  constructor(
    readonly ratePerSecond: number,
    readonly burst: number,
    nowMs: number
  ) {
    this.tokens = burst
    this.updatedMs = nowMs
  }

  /** Takes a token: 0 when admitted, otherwise the ms until one is available. */
  tryTake(nowMs: number): number {
    if (nowMs > this.updatedMs) {
      this.tokens = Math.min(this.burst, this.tokens + ((nowMs - this.updatedMs) * this.ratePerSecond) / 1000)
      this.updatedMs = nowMs
    }
    if (this.tokens >= 1) {
      this.tokens -= 1
      return 0
    }
    return Math.max(1, Math.ceil(((1 - this.tokens) * 1000) / this.ratePerSecond))
  }
}
