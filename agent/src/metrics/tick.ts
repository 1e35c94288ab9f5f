/**
 * The sampling timer of a sampler (kernel stats, map monitor, map pressure): started once, never keeps the
 * process alive, stopped on close.
 */
export class Tick {
  #timer: NodeJS.Timeout | undefined;

  constructor(readonly run: () => void) {}

  /** Starts the timer, every `intervalMs` (idempotent: a running timer stays as it is). */
  start(intervalMs: number): void {
    this.#timer ??= setInterval(this.run, intervalMs);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
