/**
 * A prom-client metric whose samples are produced at scrape time by a callback over state that
 * is already in memory (the last map samples, the last kernel statistics). prom-client has no
 * metric whose histogram buckets can be set from outside, so map-backed series use this.
 */
import type { Metric, Registry } from 'prom-client';

/** One exposition line. `metricName` overrides the family name (histogram `_bucket`/`_sum`/`_count`). */
export interface ScrapeSample {
  readonly labels: Readonly<Record<string, string | number>>;
  readonly value: number;
  readonly metricName?: string;
}

/** Options of {@link ScrapeMetric}. */
export interface ScrapeMetricOptions {
  readonly name: string;
  readonly help: string;
  readonly type: 'gauge' | 'counter' | 'histogram';
  /** Produces the samples; must not block (no kernel calls). */
  readonly collect: () => Iterable<ScrapeSample>;
}

const NAME_RE = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;

/** A metric family registered in a prom-client Registry and filled by a callback at scrape time. */
export class ScrapeMetric {
  readonly name: string;
  readonly help: string;
  readonly type: 'gauge' | 'counter' | 'histogram';
  readonly aggregator = 'sum' as const;
  readonly #collect: () => Iterable<ScrapeSample>;

  constructor(opts: ScrapeMetricOptions) {
    if (!NAME_RE.test(opts.name)) throw new RangeError(`invalid metric name '${opts.name}'`);
    this.name = opts.name;
    this.help = opts.help;
    this.type = opts.type;
    this.#collect = opts.collect;
  }

  /** Registers this metric in `registry` and returns it. */
  register(registry: Registry): this {
    registry.registerMetric(this as unknown as Metric);
    return this;
  }

  /** What prom-client's Registry reads. */
  get(): { name: string; help: string; type: string; aggregator: string; values: ScrapeSample[] } {
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values: [...this.#collect()] };
  }

  /** Registry.resetMetrics() calls this; the state belongs to the producer, so nothing to do. */
  reset(): void {
    // samples are derived from the producer's state
  }
}
