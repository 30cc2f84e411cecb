/**
 * The simulator's clock and agenda: events run in time order (ties in the
 * order they were scheduled), and time jumps from one to the next, so a
 * minute of cluster life takes milliseconds.
 */
export class Agenda {
  private heap: Array<{ readonly at: number; readonly seq: number; readonly run: () => void }> = []
  private seq = 0
  nowMs = 0

  at(atMs: number, run: () => void): void {
    this.push({ at: Math.max(atMs, this.nowMs), seq: this.seq++, run })
  }

  after(delayMs: number, run: () => void): void {
    this.at(this.nowMs + delayMs, run)
  }

  /** Runs events until `untilMs` (or until none are left); returns how many ran. */
  runUntil(untilMs: number): number {
    let count = 0
    while (this.heap.length > 0 && this.heap[0]!.at <= untilMs) {
      const event = this.pop()
      this.nowMs = event.at
      event.run()
      count++
    }
    this.nowMs = Math.max(this.nowMs, untilMs)
    return count
  }

  private push(item: { readonly at: number; readonly seq: number; readonly run: () => void }): void {
    const heap = this.heap
    heap.push(item)
    let i = heap.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!before(heap[i]!, heap[parent]!)) break
      ;[heap[i], heap[parent]] = [heap[parent]!, heap[i]!]
      i = parent
    }
  }

  private pop() {
    const heap = this.heap
    const top = heap[0]!
    const last = heap.pop()!
    if (heap.length > 0) {
      heap[0] = last
      let i = 0
      for (;;) {
        const left = 2 * i + 1
        const right = left + 1
        let smallest = i
        if (left < heap.length && before(heap[left]!, heap[smallest]!)) smallest = left
        if (right < heap.length && before(heap[right]!, heap[smallest]!)) smallest = right
        if (smallest === i) break
        ;[heap[i], heap[smallest]] = [heap[smallest]!, heap[i]!]
        i = smallest
      }
    }
    return top
  }
}

const before = (a: { at: number; seq: number }, b: { at: number; seq: number }) => a.at < b.at || (a.at === b.at && a.seq < b.seq)
