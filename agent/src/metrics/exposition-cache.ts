/**
 * The /metrics body, rendered once per sampling tick and served as bytes. Map values and kernel
 * statistics change once per tick, so rendering the registry per scrape (label objects, formatting
 * of every series) is repeated work: the body is rendered right after each sampling round while
 * someone scrapes (a scrape within the last `idleMs`), lazily otherwise, and again after an
 * invalidation (a program started, updated or stopped). A scrape gets the last body, never older
 * than `maxAgeMs`.
 */
import type { Registry } from 'prom-client';

/** Options of {@link ExpositionCache}. */
export interface ExpositionCacheOptions {
  /** Oldest body a scrape may get (default 1000 ms: the sampling interval). */
  readonly maxAgeMs?: number;
  /** Eager rendering on ticks stops this long after the last scrape (default 5 min). */
  readonly idleMs?: number;
}

/** A rendered registry and its freshness. */
export class ExpositionCache {
  readonly contentType: string;
  readonly #registry: Registry;
  readonly #maxAgeMs: number;
  readonly #idleMs: number;
  #body: Buffer | undefined;
  #renderedAt = 0;
  #lastScrape = -Infinity;
  #generation = 0;
  #pending: Promise<Buffer> | undefined;
  /** Renders so far (for tests and benches). */
  renders = 0;

  constructor(registry: Registry, opts: ExpositionCacheOptions = {}) {
    this.#registry = registry;
    this.contentType = registry.contentType;
    this.#maxAgeMs = opts.maxAgeMs ?? 1000;
    this.#idleMs = opts.idleMs ?? 300_000;
  }

  /** The state behind the series changed: the next scrape renders again. */
  invalidate(): void {
    this.#generation++;
    this.#body = undefined;
  }

  /** A sampling round ended: the body is stale; render now when someone is scraping. */
  tick(): void {
    this.invalidate();
    if (performance.now() - this.#lastScrape < this.#idleMs) this.#render().catch(() => undefined);
  }

  /** The body to serve. */
  body(): Promise<Buffer> {
    this.#lastScrape = performance.now();
    if (this.#body !== undefined && this.#lastScrape - this.#renderedAt < this.#maxAgeMs) return Promise.resolve(this.#body);
    return this.#render();
  }

  #render(): Promise<Buffer> {
    if (this.#pending) return this.#pending;
    const gen = this.#generation;
    const started = performance.now();
    const p = this.#registry.metrics().then((text) => {
      const body = Buffer.from(text);
      this.renders++;
      if (gen === this.#generation) {
        this.#body = body;
        this.#renderedAt = started;
      }
      return body;
    }).finally(() => {
      if (this.#pending === p) this.#pending = undefined;
    });
    this.#pending = p;
    return p;
  }
}
