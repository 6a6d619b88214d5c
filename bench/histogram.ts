/** Latency percentiles in milliseconds. */
export interface Percentiles {
  count: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

// 1 µs buckets below 1 ms, then buckets 1% wide up to ~10 min: exact enough for
// percentiles and small enough to merge across generator processes over IPC.
const LINEAR = 1000;
const GROWTH = Math.log(1.01);
const SIZE = LINEAR + Math.ceil(Math.log(600e6 / LINEAR) / GROWTH) + 1;

/**
 * A log-linear latency histogram in microseconds that merges across processes.
 *
 * @example const h = new Histogram(); h.record(250); h.percentiles().p99;
 */
export class Histogram {
  readonly counts = new Uint32Array(SIZE);
  count = 0;
  maxMicros = 0;

  /** Add one latency. @param micros microseconds */
  record(micros: number): void {
    const value = Math.max(micros, 0);
    const index =
      value < LINEAR
        ? Math.floor(value)
        : Math.min(SIZE - 1, LINEAR + Math.floor(Math.log(value / LINEAR) / GROWTH));
    this.counts[index]++;
    this.count++;
    if (value > this.maxMicros) this.maxMicros = value;
  }

  /** Forget everything recorded. */
  clear(): void {
    this.counts.fill(0);
    this.count = 0;
    this.maxMicros = 0;
  }

  /** The non-empty buckets, for IPC. @returns `[index, count]` pairs and the max */
  toJSON(): { buckets: [number, number][]; max: number } {
    const buckets: [number, number][] = [];
    for (let i = 0; i < SIZE; i++) if (this.counts[i] > 0) buckets.push([i, this.counts[i]]);
    return { buckets, max: this.maxMicros };
  }

  /** Add another process's histogram. @param other what `toJSON` gave */
  merge(other: { buckets: [number, number][]; max: number }): void {
    for (const [index, n] of other.buckets) {
      this.counts[index] += n;
      this.count += n;
    }
    if (other.max > this.maxMicros) this.maxMicros = other.max;
  }

  /** @returns p50/p95/p99/max in milliseconds (the bucket's upper edge) */
  percentiles(): Percentiles {
    const at = (fraction: number): number => {
      const rank = Math.ceil(fraction * this.count);
      let seen = 0;
      for (let i = 0; i < SIZE; i++) {
        seen += this.counts[i];
        if (seen >= rank && seen > 0) return Math.min(upperMicros(i), this.maxMicros) / 1000;
      }
      return 0;
    };
    return {
      count: this.count,
      p50: at(0.5),
      p95: at(0.95),
      p99: at(0.99),
      max: this.maxMicros / 1000,
    };
  }
}

function upperMicros(index: number): number {
  return index < LINEAR ? index + 1 : LINEAR * Math.exp((index - LINEAR + 1) * GROWTH);
}
