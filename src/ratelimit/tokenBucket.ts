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
    this.refill(nowMs)
    if (this.tokens >= 1) {
      this.tokens -= 1
      return 0
    }
    return Math.max(1, Math.ceil(((1 - this.tokens) * 1000) / this.ratePerSecond))
  }

  /**
   * Takes `cost` tokens at once, going into debt if need be (for pacing a
   * stream of chunks of any size): returns the ms to wait until the debt is
   * paid, 0 when there was enough.
   */
  charge(nowMs: number, cost: number): number {
    this.refill(nowMs)
    this.tokens -= cost
    return this.tokens >= 0 ? 0 : Math.ceil((-this.tokens * 1000) / this.ratePerSecond)
  }

  private refill(nowMs: number): void {
    if (nowMs > this.updatedMs) {
      this.tokens = Math.min(this.burst, this.tokens + ((nowMs - this.updatedMs) * this.ratePerSecond) / 1000)
      this.updatedMs = nowMs
    }
  }
}
