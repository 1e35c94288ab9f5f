/**
 * The sample window behind the `max-rate` and `avg` aggregators.
 *
 * Each sample is (time in ns, counter value). The first sample only primes the window (no
 * spike at start). Every later sample adds one rate interval: the increase since the previous
 * sample and the real elapsed time between the two reads. The window keeps the last `size`
 * intervals (`[web] n-metric-samples`).
 *
 * - max-rate = the largest per-second rate of one interval in the window (increase / elapsed).
 * - avg = the mean per-second rate over the window, weighted by time: total increase divided by
 *   total elapsed time of the intervals in the window. With equal intervals this is the plain
 *   mean of the per-interval rates; with a late tick it does not let a short interval count as
 *   much as a long one. (l3afd averaged the raw counter values, and crashed doing it.)
 *
 * A value lower than the previous one is a counter reset (the map was recreated or cleared):
 * that interval is not counted and the sample primes again.
 */
export class RateWindow {
  readonly size: number;
  #prevT: bigint | undefined;
  #prevV: bigint | undefined;
  #increases: number[] = [];
  #elapsed: number[] = [];
  /** Counter resets seen. */
  resets = 0;

  constructor(size: number) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`window size must be a positive integer, got ${size}`);
    this.size = size;
  }

  /** Adds a sample taken at `tNs` (monotonic ns). Samples not later than the previous one are ignored. */
  push(tNs: bigint, value: bigint): void {
    if (this.#prevT === undefined || this.#prevV === undefined) {
      this.#prevT = tNs;
      this.#prevV = value;
      return;
    }
    if (tNs <= this.#prevT) return;
    if (value < this.#prevV) {
      this.resets++;
    } else {
      this.#increases.push(Number(value - this.#prevV));
      this.#elapsed.push(Number(tNs - this.#prevT) / 1e9);
      if (this.#increases.length > this.size) {
        this.#increases.shift();
        this.#elapsed.shift();
      }
    }
    this.#prevT = tNs;
    this.#prevV = value;
  }

  /** Rate intervals in the window (0 until the second sample). */
  get intervals(): number {
    return this.#increases.length;
  }

  /** Largest per-second rate of one interval, undefined before the second sample. */
  maxRate(): number | undefined {
    let max: number | undefined;
    for (let i = 0; i < this.#increases.length; i++) {
      const r = this.#increases[i]! / this.#elapsed[i]!;
      if (max === undefined || r > max) max = r;
    }
    return max;
  }

  /**
   * l3afd's `max-rate`: the largest increase of one sample interval in the window, an integer,
   * not divided by the elapsed time (l3afd samples every second, so this reads "per second" at
   * the default `[l3af] map-sample-interval` of 1 s). Undefined before the second sample.
   */
  maxIncrease(): number | undefined {
    let max: number | undefined;
    for (const inc of this.#increases) if (max === undefined || inc > max) max = inc;
    return max;
  }

  /** Time-weighted mean per-second rate over the window, undefined before the second sample. */
  avgRate(): number | undefined {
    if (this.#increases.length === 0) return undefined;
    let inc = 0;
    let el = 0;
    for (let i = 0; i < this.#increases.length; i++) {
      inc += this.#increases[i]!;
      el += this.#elapsed[i]!;
    }
    return inc / el;
  }
}
